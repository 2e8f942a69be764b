data "aws_iam_policy_document" "execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.function_name}-execution"
  assume_role_policy = data.aws_iam_policy_document.execution_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  #checkov:skip=CKV_AWS_111:Only X-Ray actions use "*": they have no resource-level permissions.
  #checkov:skip=CKV_AWS_356:Only X-Ray actions use "*": they have no resource-level permissions.
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "least-privilege"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The deploy role: only the tooling account's deploy and rollback Lambda roles of this
# environment may assume it, and it may only do what they do, on this one function.
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
  description          = "Assumed by the tooling account's ${var.environment} deploy and rollback functions to deploy ${local.function_name}."
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "deploy" {
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
    resources = [local.function_arn, "${local.function_arn}:*"]
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
# invoke the alias (no deploy, no rollback: a smoke test bug cannot move the function).
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
  description          = "Assumed by the tooling account's ${var.environment} smoke test to invoke ${local.function_name}:${var.alias_name}."
  assume_role_policy   = data.aws_iam_policy_document.invoke_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "invoke" {
  statement {
    sid       = "InvokeAlias"
    actions   = ["lambda:InvokeFunction"]
    resources = ["${local.function_arn}:${var.alias_name}"]
  }
}

resource "aws_iam_role_policy" "invoke" {
  name   = "invoke-alias"
  role   = aws_iam_role.invoke.id
  policy = data.aws_iam_policy_document.invoke.json
}
