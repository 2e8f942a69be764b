locals {
  mlflow_env = {
    MLFLOW_TRACKING_URI           = var.mlflow_tracking_uri
    MLFLOW_CREDENTIALS_SECRET_ARN = var.mlflow_credentials_secret_arn
  }

  deploy_targets_json = jsonencode({
    for env, t in var.deploy_targets : env => {
      role_arn      = t.role_arn
      function_name = t.function_name
      alias         = t.alias
    }
  })

  # Settings every function reads (src/mlops_pipeline/config.py: used_by "all").
  common_env = {
    MLOPS_TABLE      = aws_dynamodb_table.this.name
    SLACK_SECRET_ARN = aws_secretsmanager_secret.slack.arn
    SLACK_API_URL    = var.slack_api_url
    # Every step reports into the run's Slack thread (and links MLflow from its header).
    SLACK_CHANNEL           = var.slack_channel
    MLFLOW_UI_URL           = var.mlflow_ui_url
    POWERTOOLS_SERVICE_NAME = "mlops-pipeline"
  }

  # Each function: its package, size, the settings it reads and the extra permissions it needs.
  functions = {
    report = {
      package  = "core"
      timeout  = 30
      memory   = 256
      features = []
      env      = {}
    }
    evaluate = {
      package  = "registry"
      timeout  = 120
      memory   = 1024
      features = ["mlflow"]
      env = merge(local.mlflow_env, {
        GATE_METRIC    = var.gate.metric
        GATE_DIRECTION = var.gate.direction
        GATE_TOLERANCE = tostring(var.gate.tolerance)
      })
    }
    deploy = {
      package  = "core"
      timeout  = 600
      memory   = 256
      features = ["assume_deploy"]
      env      = { DEPLOY_TARGETS = local.deploy_targets_json, LOCK_TTL_SECONDS = "900" }
    }
    smoke_test = {
      package  = "core"
      timeout  = 120
      memory   = 256
      features = ["assume_deploy"]
      env      = { DEPLOY_TARGETS = local.deploy_targets_json, SMOKE_MAX_LATENCY_MS = tostring(var.smoke_max_latency_ms) }
    }
    rollback = {
      package  = "core"
      timeout  = 300
      memory   = 256
      features = ["assume_deploy"]
      env      = { DEPLOY_TARGETS = local.deploy_targets_json }
    }
    promote = {
      package  = "registry"
      timeout  = 120
      memory   = 1024
      features = ["mlflow"]
      env      = merge(local.mlflow_env, { DEPLOY_TARGETS = local.deploy_targets_json })
    }
    request_approval = {
      package  = "core"
      timeout  = 30
      memory   = 256
      features = ["mlflow"]
      env = merge(local.mlflow_env, {
        APPROVAL_TIMEOUT_SECONDS = tostring(var.approval_timeout_seconds)
      })
    }
    expire_approval = {
      package  = "core"
      timeout  = 30
      memory   = 256
      features = []
      env      = {}
    }
    slack_interactions = {
      package  = "core"
      timeout  = 15
      memory   = 256
      features = ["callback"]
      env = {
        APPROVERS                 = join(",", var.approvers)
        APPROVER_GROUP            = var.approver_group
        ALLOW_SELF_APPROVAL       = tostring(var.allow_self_approval)
        SIGNATURE_MAX_AGE_SECONDS = "300"
      }
    }
    notify = {
      package  = "core"
      timeout  = 30
      memory   = 256
      features = []
      env      = {}
    }
  }

  # Static keys: roles and log groups must not depend on deploy_targets (the target
  # accounts' deploy roles trust these roles, and deploy_targets come from those accounts).
  function_keys = toset(["report", "evaluate", "deploy", "smoke_test", "rollback", "promote", "request_approval", "expire_approval", "slack_interactions", "notify"])

  asl_functions = ["report", "evaluate", "deploy", "smoke_test", "rollback", "promote", "request_approval", "expire_approval"]
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.function_keys

  name              = "/aws/lambda/${var.name_prefix}-${replace(each.value, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low; raise it where policy asks for a year.
  tags = var.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions/API Gateway (errors go back to the caller); notify's SNS retries are enough for chat messages.
  #checkov:skip=CKV_AWS_117:No VPC on purpose: the functions call Slack, MLflow's HTTPS front door and AWS APIs; a VPC would need a NAT gateway (cost, R-5).
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles per account; the packages are reproducible and their hashes pinned in state.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (lambda_reserved_concurrency); reserving by default would eat the account's unreserved pool.

  function_name                  = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description                    = "mlops-pipeline ${each.key}"
  role                           = aws_iam_role.lambda[each.key].arn
  handler                        = "mlops_pipeline.handlers.${each.key}.handler"
  runtime                        = "python3.12"
  architectures                  = ["arm64"]
  filename                       = var.lambda_packages[each.value.package].path
  source_code_hash               = var.lambda_packages[each.value.package].base64sha256
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory
  kms_key_arn                    = aws_kms_key.this.arn
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  environment {
    variables = merge(local.common_env, each.value.env, var.lambda_environment_overrides)
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}
