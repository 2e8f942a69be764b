locals {
  # Key prefix of MLflow's artifacts in the bucket (MLFLOW_DEFAULT_ARTIFACT_ROOT).
  artifact_prefix = "artifacts"
}

resource "aws_cloudwatch_log_group" "service" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = local.name
  #checkov:skip=CKV_AWS_65:Container Insights bills custom metrics per task; the service logs to CloudWatch Logs.

  setting {
    name  = "containerInsights"
    value = "disabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }

  # The root filesystem is read-only; the server writes only its auth config and temp files.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "mlflow"
    image                  = local.image_uri
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    portMappings           = [{ containerPort = 5000, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    # docker/mlflow/entrypoint.py documents each setting; tests/contract runs it with exactly these.
    environment = [
      { name = "MLFLOW_DB_HOST", value = aws_rds_cluster.this.endpoint },
      { name = "MLFLOW_DB_PORT", value = tostring(local.db_port) },
      { name = "MLFLOW_DB_NAME", value = aws_rds_cluster.this.database_name },
      { name = "MLFLOW_AUTH_DB_NAME", value = "mlflow_auth" },
      { name = "MLFLOW_DB_SSLMODE", value = "require" },
      # Not the password: the server reads the RDS-managed secret per new connection, so RDS's
      # rotation (every 7 days) does not break a running task.
      { name = "MLFLOW_DB_SECRET_ARN", value = aws_rds_cluster.this.master_user_secret[0].secret_arn },
      # Clients read and write artifacts in S3 directly (no proxy through the front door).
      { name = "MLFLOW_DEFAULT_ARTIFACT_ROOT", value = "s3://${module.artifacts_bucket.id}/${local.artifact_prefix}" },
      # Host headers MLflow accepts (DNS-rebinding protection): the front door's name and the
      # Cloud Map name the VPC link may forward (the entrypoint adds its own loopback name).
      { name = "MLFLOW_ALLOWED_HOSTS", value = join(",", compact([local.host, local.api ? "mlflow.${local.name}.internal:5000" : ""])) },
      # No job scheduler: it queries the database every minute and Aurora would never pause.
      { name = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION", value = "false" },
      { name = "MLFLOW_SQLALCHEMYSTORE_POOLCLASS", value = "NullPool" },
      { name = "MLFLOW_WORKERS", value = "1" },
    ]
    secrets = [
      { name = "MLFLOW_AUTH_ADMIN_USERNAME", valueFrom = "${aws_secretsmanager_secret.admin.arn}:username::" },
      { name = "MLFLOW_AUTH_ADMIN_PASSWORD", valueFrom = "${aws_secretsmanager_secret.admin.arn}:password::" },
      { name = "MLFLOW_PIPELINE_USERNAME", valueFrom = "${aws_secretsmanager_secret.pipeline.arn}:username::" },
      { name = "MLFLOW_PIPELINE_PASSWORD", valueFrom = "${aws_secretsmanager_secret.pipeline.arn}:password::" },
      { name = "MLFLOW_FLASK_SERVER_SECRET_KEY", valueFrom = "${aws_secretsmanager_secret.admin.arn}:secret_key::" },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "mlflow"
      }
    }
  }])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                               = local.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.fargate_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = var.task_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = var.assign_public_ip
    #checkov:skip=CKV_AWS_333:Without a NAT gateway (cost) the task reaches ECR/S3/Secrets Manager through a public IP; its security group admits only the front door.
  }

  dynamic "service_registries" {
    for_each = local.api ? [1] : []

    content {
      registry_arn   = aws_service_discovery_service.this[0].arn
      container_name = "mlflow"
      container_port = 5000
    }
  }

  dynamic "load_balancer" {
    for_each = local.alb ? [1] : []

    content {
      target_group_arn = aws_lb_target_group.this[0].arn
      container_name   = "mlflow"
      container_port   = 5000
    }
  }

  tags = var.tags

  # The task cannot start before its Flask secret key (in the admin secret) has a value.
  depends_on = [aws_ecs_cluster_capacity_providers.this, aws_rds_cluster_instance.this, aws_secretsmanager_secret_version.admin]
}
