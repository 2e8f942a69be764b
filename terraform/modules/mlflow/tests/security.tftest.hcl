# Security- and cost-relevant settings of the MLflow module, against a mocked AWS provider.
mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  vpc_id             = "vpc-0123456789abcdef0"
  task_subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  kms_key_arn        = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  write_passwords    = true
  admin_password     = "test-admin-password"
  pipeline_password  = "test-pipeline-password"
  flask_secret_key   = "test-flask-secret-key"
}

run "aurora_scales_to_zero_without_password_in_state" {
  command = apply

  assert {
    condition     = aws_rds_cluster.this.serverlessv2_scaling_configuration[0].min_capacity == 0 && aws_rds_cluster.this.serverlessv2_scaling_configuration[0].seconds_until_auto_pause == 300
    error_message = "Aurora Serverless v2 pauses at 0 ACU after 5 idle minutes."
  }

  assert {
    condition     = aws_rds_cluster.this.manage_master_user_password && aws_rds_cluster.this.master_password == null
    error_message = "RDS manages the master password in Secrets Manager; none in Terraform."
  }

  assert {
    condition     = aws_secretsmanager_secret_version.admin[0].secret_string_wo_version == 1 && aws_secretsmanager_secret.admin.kms_key_id == var.kms_key_arn
    error_message = "The admin password is written write-only into a secret under the customer-managed key."
  }

  assert {
    condition     = aws_rds_cluster.this.storage_encrypted && aws_rds_cluster.this.kms_key_id == var.kms_key_arn && aws_rds_cluster.this.engine == "aurora-postgresql"
    error_message = "Aurora PostgreSQL, encrypted with the customer-managed key."
  }

  assert {
    condition     = !aws_rds_cluster_instance.this.publicly_accessible && aws_rds_cluster_instance.this.instance_class == "db.serverless"
    error_message = "The database is private and serverless."
  }
}

run "network_exposure_is_minimal" {
  command = apply

  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_service.referenced_security_group_id == aws_security_group.service.id && aws_vpc_security_group_ingress_rule.db_from_service.from_port == 5432
    error_message = "Only the MLflow task reaches the database, on 5432."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.service_from_front.referenced_security_group_id == aws_security_group.front.id && aws_vpc_security_group_ingress_rule.service_from_front.from_port == 5000
    error_message = "Only the front door reaches the task, on 5000."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.front_https) == 0
    error_message = "With the API Gateway front door nothing enters from the internet directly."
  }

  # The bucket's own settings (private, versioned, SSE-KMS, TLS only) are asserted by the
  # s3_bucket module's tests; here: that it is encrypted with the given key.
  assert {
    condition     = module.artifacts_bucket.kms_key_arn == var.kms_key_arn && output.artifact_bucket == module.artifacts_bucket.id
    error_message = "The artifact bucket is encrypted with the customer-managed key."
  }

  assert {
    condition     = alltrue(flatten([for d in [data.aws_iam_policy_document.execution, data.aws_iam_policy_document.task, data.aws_iam_policy_document.artifact_clients] : [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No wildcard actions."
  }
}

run "task_is_small_arm_and_authenticated" {
  command = apply

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "ARM64" && aws_ecs_task_definition.this.cpu == "256" && aws_ecs_task_definition.this.memory == "512"
    error_message = "The smallest ARM64 Fargate task by default."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem
    error_message = "The container's root filesystem is read-only."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : startswith(s.valueFrom, "arn:aws:secretsmanager:")]) && length([
      for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e if strcontains(lower(e.name), "password")
    ]) == 0
    error_message = "Passwords come from Secrets Manager, never plain environment."
  }

  assert {
    condition     = length(aws_apigatewayv2_vpc_link.this) == 1 && length(aws_lb.this) == 0 && output.url == "https://abc123.execute-api.us-east-1.amazonaws.com"
    error_message = "The default front door is the API Gateway HTTP API (HTTPS, no load balancer)."
  }
}

run "alb_front_door_with_tls" {
  command = apply

  variables {
    front_door        = "alb"
    public_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    certificate_arn   = "arn:aws:acm:us-east-1:111111111111:certificate/abc"
    alb_ingress_cidrs = ["203.0.113.0/24"]
  }

  assert {
    condition     = length(aws_lb.this) == 1 && length(aws_apigatewayv2_api.this) == 0 && length(aws_lb_listener.http) == 0
    error_message = "front_door = alb with a certificate: an ALB with HTTPS only."
  }

  assert {
    condition     = aws_lb_listener.https[0].protocol == "HTTPS" && startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13")
    error_message = "The HTTPS listener uses a TLS 1.3 policy."
  }

  assert {
    condition     = aws_lb.this[0].drop_invalid_header_fields
    error_message = "The ALB drops invalid headers."
  }
}

run "rejects_unknown_front_door" {
  command = plan

  variables {
    front_door = "nlb"
  }

  expect_failures = [var.front_door]
}

# A deployment from before the s3_bucket module: its bucket must survive the move
# (moved blocks in main.tf), not be destroyed and created anew.
run "inline_bucket_of_an_earlier_deployment" {
  state_key = "moved"

  module {
    source = "../s3_bucket/tests/inline_layout"
  }

  variables {
    bucket_prefix = "mlops-mlflow-"
  }

  override_resource {
    target = aws_s3_bucket.artifacts
    values = { id = "mlops-mlflow-existing", arn = "arn:aws:s3:::mlops-mlflow-existing" }
  }
}

run "moved_blocks_keep_the_existing_bucket" {
  state_key = "moved"

  assert {
    condition     = module.artifacts_bucket.id == run.inline_bucket_of_an_earlier_deployment.bucket_id && output.artifact_bucket == "mlops-mlflow-existing"
    error_message = "The existing bucket must move into module.artifacts_bucket (moved blocks), not be replaced."
  }
}
