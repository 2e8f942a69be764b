data "aws_iam_policy_document" "execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# One execution role per function: each may write its own log group only. IAM role names stop
# at 64 characters: a long function name is cut and made unique with a hash of the whole.
resource "aws_iam_role" "execution" {
  for_each = local.functions

  name               = length(each.value.function_name) <= 54 ? "${each.value.function_name}-execution" : "${substr(each.value.function_name, 0, 45)}-${substr(sha1(each.value.function_name), 0, 8)}-execution"
  assume_role_policy = data.aws_iam_policy_document.execution_assume.json
  tags               = merge(var.tags, { "mlops:model" = each.key })
}

data "aws_iam_policy_document" "execution" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_111:Only X-Ray actions use "*": they have no resource-level permissions.
  #checkov:skip=CKV_AWS_356:Only X-Ray actions use "*": they have no resource-level permissions.
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

# The deploy role: only the tooling account's deploy and rollback Lambda roles of this
# environment may assume it, and it may only do what they do, on this account's inference
# functions (each named: no wildcard over function names).
data "aws_iam_policy_document" "deploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = var.deployer_role_arns
    }

    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]

      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-deploy"
  description          = "Assumed by the tooling account's ${var.environment} deploy and rollback functions to deploy this account's inference functions."
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "deploy" {
  #checkov:skip=CKV_AWS_356:Only cloudwatch:GetMetricData uses "*": it has no resource-level permissions (the Service Authorization Reference lists no resource type for it).
  statement {
    sid = "DeployInferenceFunction"
    actions = [
      "lambda:GetAlias",
      "lambda:UpdateAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode",
      "lambda:PublishVersion",
      "lambda:ListVersionsByFunction",
    ]
    resources = flatten([for model in sort(keys(local.function_arns)) : [local.function_arns[model], "${local.function_arns[model]}:*"]])
  }

  # Prod's gradual rollout: deploy_prod judges each bake on the versions' Lambda metrics
  # (Invocations, Errors, Throttles, Duration p99). GetMetricData has no resource-level
  # permissions, so "*" here; the action is read-only and the only one of the statement.
  dynamic "statement" {
    for_each = var.environment == "prod" ? ["ReadRolloutMetrics"] : []

    content {
      sid       = statement.value
      actions   = ["cloudwatch:GetMetricData"]
      resources = ["*"]
    }
  }

  # Zip functions: UpdateFunctionCode reads the zip (one object version) with the caller's
  # permissions; the tooling bucket's policy and key policy grant the same to this role only.
  dynamic "statement" {
    for_each = var.package_type == "Zip" && var.artifacts_bucket_arn != null ? ["ReadServingZips"] : []

    content {
      sid       = statement.value
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${var.artifacts_bucket_arn}/${var.artifacts_key_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = var.package_type == "Zip" && var.artifacts_kms_key_arn != null ? ["DecryptServingZips"] : []

    content {
      sid       = statement.value
      actions   = ["kms:Decrypt"]
      resources = [var.artifacts_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${data.aws_region.this.name}.amazonaws.com"]
      }
    }
  }

  # Image functions: UpdateFunctionCode checks that the caller can read the image it points to.
  dynamic "statement" {
    for_each = var.package_type == "Image" ? ["ReadServingImages"] : []

    content {
      sid       = statement.value
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [var.image_repository_arn]
    }
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy-inference"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

# The invoke role: only this environment's smoke test function may assume it, and it may only
# invoke the functions (no deploy, no rollback: a smoke test bug cannot move the function): the
# aliases, and in prod the published versions too.
data "aws_iam_policy_document" "invoke_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = var.smoke_test_role_arns
    }

    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]

      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "invoke" {
  name                 = "${var.name_prefix}-smoke-test"
  description          = "Assumed by the tooling account's ${var.environment} smoke test to invoke its inference functions' alias ${var.alias_name}."
  assume_role_policy   = data.aws_iam_policy_document.invoke_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "invoke" {
  statement {
    sid       = "InvokeAlias"
    actions   = ["lambda:InvokeFunction"]
    resources = [for model in sort(keys(local.function_arns)) : "${local.function_arns[model]}:${var.alias_name}"]
  }

  # A gradual rollout publishes the new version without moving the alias: prod's smoke test
  # calls that version (<function>:<N>) before it gets any traffic. A qualified ARN pattern per
  # model function (":*" also matches the alias, which the statement above grants anyway).
  dynamic "statement" {
    for_each = var.environment == "prod" ? ["InvokePublishedVersions"] : []

    content {
      sid       = statement.value
      actions   = ["lambda:InvokeFunction"]
      resources = [for model in sort(keys(local.function_arns)) : "${local.function_arns[model]}:*"]
    }
  }
}

resource "aws_iam_role_policy" "invoke" {
  name   = "invoke-alias"
  role   = aws_iam_role.invoke.id
  policy = data.aws_iam_policy_document.invoke.json
}
