resource "aws_security_group" "service" {
  name        = "${local.name}-service"
  description = "MLflow task: in from the front door only; out to AWS APIs (443) and the database."
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "Aurora: in from the MLflow task only."
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_security_group" "front" {
  name        = "${local.name}-front"
  description = "MLflow front door (VPC link or ALB): out to the task only."
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "service_from_front" {
  security_group_id            = aws_security_group.service.id
  description                  = "MLflow from the front door"
  referenced_security_group_id = aws_security_group.front.id
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
}

resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to ECR, S3, Secrets Manager and CloudWatch Logs (no NAT: through the internet gateway)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "service_db" {
  security_group_id            = aws_security_group.service.id
  description                  = "PostgreSQL to Aurora"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
}

resource "aws_vpc_security_group_ingress_rule" "db_from_service" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the MLflow task"
  referenced_security_group_id = aws_security_group.service.id
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
}

resource "aws_vpc_security_group_egress_rule" "front_to_service" {
  security_group_id            = aws_security_group.front.id
  description                  = "To the MLflow task"
  referenced_security_group_id = aws_security_group.service.id
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
}

resource "aws_vpc_security_group_ingress_rule" "front_https" {
  for_each = local.alb ? toset(var.alb_ingress_cidrs) : toset([])

  security_group_id = aws_security_group.front.id
  description       = "Clients to the ALB"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = local.alb_https ? 443 : 80
  to_port           = local.alb_https ? 443 : 80
}
