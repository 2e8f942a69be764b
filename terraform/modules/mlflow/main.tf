data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  name      = "${var.name_prefix}-mlflow"
  region    = data.aws_region.this.name
  image_uri = coalesce(var.image_uri, "${aws_ecr_repository.this.repository_url}:${var.image_tag}")
  api       = var.front_door == "api_gateway"
  alb       = var.front_door == "alb"
  alb_https = local.alb && var.certificate_arn != null

  url = local.api ? aws_apigatewayv2_api.this[0].api_endpoint : (
    local.alb_https ? "https://${aws_lb.this[0].dns_name}" : (local.alb ? "http://${aws_lb.this[0].dns_name}" : null)
  )
  host = local.api ? replace(aws_apigatewayv2_api.this[0].api_endpoint, "https://", "") : (local.alb ? aws_lb.this[0].dns_name : "")
}

# --- the server image -----------------------------------------------------------------

resource "aws_ecr_repository" "this" {
  name                 = "${var.name_prefix}/mlflow-server"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the newest 5 server images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 5 }
      action       = { type = "expire" }
    }]
  })
}

# --- secrets: passwords are written write-only (secret_string_wo), never stored in state.
# The root generates them with the ephemeral aws_secretsmanager_random_password.

# The admin secret also holds the server's Flask secret key (CSRF and sessions) as a third JSON
# key: only the task's execution role reads either (a secret of its own would cost 0.40 USD a
# month and guard nothing more: whoever reads the admin password is MLflow's admin already).
resource "aws_secretsmanager_secret" "admin" {
  name        = "${var.name_prefix}/mlflow/admin"
  description = "MLflow admin user {username, password} and the server's Flask secret key {secret_key} (MLFLOW_FLASK_SERVER_SECRET_KEY)."
  kms_key_id  = var.kms_key_arn
  #checkov:skip=CKV2_AWS_57:MLflow passwords change through MLflow's API; a rotation Lambda would need VPC access (cost). Bump the *_wo_version to rotate.
  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "admin" {
  count = var.write_passwords ? 1 : 0

  secret_id                = aws_secretsmanager_secret.admin.id
  secret_string_wo         = jsonencode({ username = "admin", password = var.admin_password, secret_key = var.flask_secret_key })
  secret_string_wo_version = var.passwords_version
}

resource "aws_secretsmanager_secret" "pipeline" {
  name        = "${var.name_prefix}/mlflow/pipeline"
  description = "MLflow user of the pipeline's Lambdas and CodeBuild {username, password} (MLFLOW_CREDENTIALS_SECRET_ARN)."
  kms_key_id  = var.kms_key_arn
  #checkov:skip=CKV2_AWS_57:MLflow passwords change through MLflow's API; bump secret_string_wo_version to rotate.
  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "pipeline" {
  count = var.write_passwords ? 1 : 0

  secret_id                = aws_secretsmanager_secret.pipeline.id
  secret_string_wo         = jsonencode({ username = var.pipeline_username, password = var.pipeline_password })
  secret_string_wo_version = var.passwords_version
}

# --- artifact store -----------------------------------------------------------------------

# The artifact store: versioned, SSE-KMS under kms_key_arn, private, TLS only (the s3_bucket
# module; its checkov skips sit beside its resources). Who may use it: iam.tf.
module "artifacts_bucket" {
  source = "../s3_bucket"

  bucket_prefix = "${var.name_prefix}-mlflow-"
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  tags          = var.tags
}

# The bucket's resources moved into the module: keep existing deployments' bucket.
moved {
  from = aws_s3_bucket.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_policy.this
}
