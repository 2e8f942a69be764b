data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  # One inference function per declared model; what a model does not set comes from the
  # module-wide defaults (memory_size, timeout, reserved_concurrency, function_url).
  functions = {
    for model, m in var.models : model => {
      function_name        = coalesce(m.function_name, "${var.name_prefix}-${replace(replace(model, ".", "-"), "_", "-")}")
      memory_size          = coalesce(m.memory_size, var.memory_size)
      timeout              = coalesce(m.timeout, var.timeout)
      reserved_concurrency = coalesce(m.reserved_concurrency, var.reserved_concurrency)
      function_url         = coalesce(m.function_url, var.function_url)
      smoke_max_latency_ms = m.smoke_max_latency_ms
    }
  }
  arn_prefix    = "arn:${data.aws_partition.this.partition}:lambda:${data.aws_region.this.name}:${data.aws_caller_identity.this.account_id}:function:"
  function_arns = { for model, f in local.functions : model => "${local.arn_prefix}${f.function_name}" }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${each.value.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  #checkov:skip=CKV_AWS_158:A customer-managed key per target account is optional (log_kms_key_arn): 1 USD/month each; logs are encrypted at rest by CloudWatch either way.
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

# The inference function of each model. The pipeline owns its code and the alias: Terraform creates them
# once (a zip function from the placeholder zip, or an image function from initial_image_uri)
# and then leaves code and alias version alone.
resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:Invoked synchronously (alias live); callers see errors directly.
  #checkov:skip=CKV_AWS_117:Inference needs no VPC resources; a VPC would add NAT cost.
  #checkov:skip=CKV_AWS_272:Code comes from the pipeline only: a zip is published only if its CodeSha256 is the sha256 the build recorded in the registry; images by immutable tag from the tooling ECR (scan on push).
  #checkov:skip=CKV_AWS_173:The function has no environment variables of its own (the artifact carries its configuration).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (reserved_concurrency).

  # A zip goes with the create call itself: the tooling account's bucket is read by the deploy
  # role only, never by whoever runs Terraform here.
  function_name                  = each.value.function_name
  description                    = "mlops-pipeline inference of ${each.key} (${var.environment}); code and alias are moved by the pipeline"
  role                           = aws_iam_role.execution[each.key].arn
  package_type                   = var.package_type
  filename                       = var.package_type == "Zip" ? try(var.placeholder_zip.path, null) : null
  source_code_hash               = var.package_type == "Zip" ? try(var.placeholder_zip.base64sha256, null) : null
  handler                        = var.package_type == "Zip" ? "serving.handler.handler" : null
  runtime                        = var.package_type == "Zip" ? "python3.12" : null
  image_uri                      = var.package_type == "Image" ? var.initial_image_uri : null
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  publish                        = true
  reserved_concurrent_executions = each.value.reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  # Each published version is snapshotted after its init (the model loaded) and restored on a
  # cold start; off by default for its cost (docs/serving.md).
  dynamic "snap_start" {
    for_each = var.snapstart ? ["PublishedVersions"] : []

    content {
      apply_on = snap_start.value
    }
  }

  tags = merge(var.tags, { "mlops:environment" = var.environment, "mlops:model" = each.key })

  lifecycle {
    # The pipeline deploys code: a later apply must not put the placeholder back.
    ignore_changes = [image_uri, filename, source_code_hash, s3_bucket, s3_key, s3_object_version, publish, description]

    precondition {
      condition     = var.package_type == "Zip" ? var.placeholder_zip != null && var.artifacts_bucket_arn != null : var.initial_image_uri != null && var.image_repository_arn != null
      error_message = "package_type Zip needs placeholder_zip (manifest.json of `mlops-pipeline package`) and artifacts_bucket_arn; Image needs initial_image_uri and image_repository_arn."
    }
  }

  # Lambda checks on CreateFunction that it may read the code it is created from, through
  # grants in the tooling account (artifact_access_ids): wait for them on the first apply.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.execution, var.artifact_access_ids]
}

resource "aws_lambda_alias" "live" {
  for_each = aws_lambda_function.this

  name             = var.alias_name
  description      = "Moved by the pipeline (deploy / rollback)."
  function_name    = each.value.function_name
  function_version = each.value.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_function_url" "live" {
  for_each = { for model, f in local.functions : model => f if f.function_url }

  function_name      = aws_lambda_alias.live[each.key].function_name
  qualifier          = aws_lambda_alias.live[each.key].name
  authorization_type = "AWS_IAM"
}
