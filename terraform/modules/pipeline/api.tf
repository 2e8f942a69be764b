# Slack interactivity: Slack POSTs button clicks here; the Lambda verifies Slack's signature.
# The same HTTP API carries the git host's push webhook (webhook.tf) when git_source is not codecommit.
locals {
  create_api = var.create_slack_api || local.webhook_enabled
}

resource "aws_apigatewayv2_api" "slack" {
  count = local.create_api ? 1 : 0

  name          = "${var.name_prefix}-slack"
  protocol_type = "HTTP"
  description   = "Slack interactivity and git push webhook endpoints of mlops-pipeline."
  tags          = var.tags
}

resource "aws_cloudwatch_log_group" "api" {
  count = local.create_api ? 1 : 0

  name              = "/aws/apigateway/${var.name_prefix}-slack"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

resource "aws_apigatewayv2_integration" "slack" {
  count = var.create_slack_api ? 1 : 0

  api_id                 = aws_apigatewayv2_api.slack[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this["slack_interactions"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 10000
}

resource "aws_apigatewayv2_route" "slack" {
  count = var.create_slack_api ? 1 : 0
  #checkov:skip=CKV_AWS_309:Slack cannot send IAM/JWT auth; every request's HMAC signature is verified in the Lambda (5-minute window).

  api_id             = aws_apigatewayv2_api.slack[0].id
  route_key          = "POST /slack/interactions"
  target             = "integrations/${aws_apigatewayv2_integration.slack[0].id}"
  authorization_type = "NONE"
}

resource "aws_apigatewayv2_stage" "slack" {
  count = local.create_api ? 1 : 0

  api_id      = aws_apigatewayv2_api.slack[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = 20
    throttling_rate_limit  = 10
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

resource "aws_lambda_permission" "slack" {
  count = var.create_slack_api ? 1 : 0

  statement_id  = "AllowSlackApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["slack_interactions"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.slack[0].execution_arn}/*/POST/slack/interactions"
}
