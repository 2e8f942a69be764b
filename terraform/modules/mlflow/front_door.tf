# --- api_gateway (default): HTTP API -> VPC link -> Cloud Map -> task. No idle cost. ---

resource "aws_service_discovery_private_dns_namespace" "this" {
  count = local.api ? 1 : 0

  name        = "${local.name}.internal"
  description = "MLflow service discovery for the API Gateway VPC link."
  vpc         = var.vpc_id
  tags        = var.tags
}

resource "aws_service_discovery_service" "this" {
  count = local.api ? 1 : 0

  name = "mlflow"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this[0].id
    routing_policy = "MULTIVALUE"

    # API Gateway's Cloud Map integration needs the port: SRV records.
    dns_records {
      type = "SRV"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }

  tags = var.tags
}

resource "aws_apigatewayv2_vpc_link" "this" {
  count = local.api ? 1 : 0

  name               = local.name
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.front.id]
  tags               = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  count = local.api ? 1 : 0

  name          = local.name
  protocol_type = "HTTP"
  description   = "MLflow tracking server (MLflow basic authentication)."
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "this" {
  count = local.api ? 1 : 0

  api_id             = aws_apigatewayv2_api.this[0].id
  integration_type   = "HTTP_PROXY"
  integration_method = "ANY"
  connection_type    = "VPC_LINK"
  connection_id      = aws_apigatewayv2_vpc_link.this[0].id
  integration_uri    = aws_service_discovery_service.this[0].arn
}

resource "aws_apigatewayv2_route" "this" {
  count = local.api ? 1 : 0
  #checkov:skip=CKV_AWS_309:MLflow's own basic authentication checks every request (admin and pipeline users in Secrets Manager).

  api_id             = aws_apigatewayv2_api.this[0].id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.this[0].id}"
  authorization_type = "NONE"
}

resource "aws_cloudwatch_log_group" "api" {
  count = local.api ? 1 : 0

  name              = "/aws/apigateway/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  count = local.api ? 1 : 0

  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = 50
    throttling_rate_limit  = 25
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api[0].arn
    format = jsonencode({
      requestId = "$context.requestId"
      ip        = "$context.identity.sourceIp"
      time      = "$context.requestTime"
      route     = "$context.routeKey"
      status    = "$context.status"
      latency   = "$context.integrationLatency"
    })
  }

  tags = var.tags
}

# --- alb (option): an Application Load Balancer, HTTPS when a certificate is given. ---

resource "aws_lb" "this" {
  count = local.alb ? 1 : 0
  #checkov:skip=CKV_AWS_91:Access logs need another bucket; API Gateway is the default front door.
  #checkov:skip=CKV2_AWS_28:WAF costs at least 5 USD/month; MLflow authenticates every request.
  #checkov:skip=CKV2_AWS_20:With a certificate there is no HTTP listener at all; without one there is no HTTPS to redirect to.
  #checkov:skip=CKV_AWS_150:deletion_protection follows the deletion_protection variable.

  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.front.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  tags                       = var.tags
}

resource "aws_lb_target_group" "this" {
  count = local.alb ? 1 : 0

  #checkov:skip=CKV_AWS_378:The ALB talks HTTP to the task inside the VPC; clients reach the ALB over HTTPS when certificate_arn is set.
  name        = local.name
  port        = 5000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  health_check {
    path    = "/health"
    matcher = "200"
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count = local.alb_https ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

resource "aws_lb_listener" "http" {
  count = local.alb && !local.alb_https ? 1 : 0
  #checkov:skip=CKV_AWS_2:Without a certificate (certificate_arn) there is no HTTPS; restrict alb_ingress_cidrs or give a certificate.
  #checkov:skip=CKV_AWS_103:TLS policy applies to the HTTPS listener only.

  load_balancer_arn = aws_lb.this[0].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}
