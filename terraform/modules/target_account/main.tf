data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  function_name = coalesce(var.function_name, "${var.name_prefix}-inference")
  function_arn  = "arn:${data.aws_partition.this.partition}:lambda:${data.aws_region.this.name}:${data.aws_caller_identity.this.account_id}:function:${local.function_name}"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  #checkov:skip=CKV_AWS_158:A customer-managed key per target account is optional (log_kms_key_arn): 1 USD/month each; logs are encrypted at rest by CloudWatch either way.
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

# The inference function. The pipeline owns its code and the alias: Terraform creates
# them once and then leaves image and alias version alone.
resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously (alias live); callers see errors directly.
  #checkov:skip=CKV_AWS_117:Inference needs no VPC resources; a VPC would add NAT cost.
  #checkov:skip=CKV_AWS_272:Container images are referenced by immutable tags/digests from the tooling ECR (scan on push); code signing does not apply to images.
  #checkov:skip=CKV_AWS_173:The function has no environment variables of its own (the image carries its configuration).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (reserved_concurrency).

  function_name                  = local.function_name
  description                    = "mlops-pipeline inference (${var.environment}); image and alias are moved by the pipeline"
  role                           = aws_iam_role.execution.arn
  package_type                   = "Image"
  image_uri                      = var.initial_image_uri
  architectures                  = ["arm64"]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  publish                        = true
  reserved_concurrent_executions = var.reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  tags = merge(var.tags, { "mlops:environment" = var.environment })

  lifecycle {
    ignore_changes = [image_uri, publish, description]
  }

  # Lambda checks on CreateFunction that it may read the code it is created from, through
  # grants in the tooling account (artifact_access_ids): wait for them on the first apply.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.execution, var.artifact_access_ids]
}

resource "aws_lambda_alias" "live" {
  name             = var.alias_name
  description      = "Moved by the pipeline (deploy / rollback)."
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_function_url" "live" {
  count = var.function_url ? 1 : 0

  function_name      = aws_lambda_function.this.function_name
  qualifier          = aws_lambda_alias.live.name
  authorization_type = "AWS_IAM"
}
