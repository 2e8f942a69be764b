# IAM of the two CodeBuild steps: the trusted build (Build) and the untrusted training step (Train).

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name               = "${var.name_prefix}-pipeline-build"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "codebuild" {
  #checkov:skip=CKV_AWS_111:Only ecr:GetAuthorizationToken uses "*": it has no resource-level permissions.
  #checkov:skip=CKV_AWS_356:Only ecr:GetAuthorizationToken uses "*": it has no resource-level permissions.
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.codebuild.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.repository_arn == null ? [] : [local.repository_arn]

    content {
      sid       = "PullModelCode"
      actions   = ["codecommit:GitPull"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    # GitHub or GitLab: clone through the CodeConnections connection, this one only.
    for_each = aws_codeconnections_connection.this[*].arn

    content {
      sid       = "CloneThroughConnection"
      actions   = ["codeconnections:UseConnection", "codeconnections:GetConnectionToken", "codeconnections:GetConnection"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadPipelineSource"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.artifacts_bucket.arn}/pipeline/*"]
  }

  statement {
    # The untrusted training step's output, verified before anything of it is registered.
    sid       = "ReadTrainingOutput"
    actions   = ["s3:GetObject"]
    resources = ["${module.artifacts_bucket.arn}/${local.train_key_prefix}*"]
  }

  statement {
    # The serving zips: written once per model version, never read back or deleted by the build.
    sid       = "PublishServingZips"
    actions   = ["s3:PutObject"]
    resources = ["${module.artifacts_bucket.arn}/${local.serving_key_prefix}*"]
  }

  # Docker and ECR only when the functions run images (serving_package_type = "Image").
  dynamic "statement" {
    for_each = var.serving_package_type == "Image" ? ["EcrLogin"] : []

    content {
      sid       = statement.value
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.serving_package_type == "Image" ? ["PushServingImages"] : []

    content {
      sid = statement.value
      actions = [
        "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:DescribeImages",
      ]
      resources = [aws_ecr_repository.serving.arn]
    }
  }

  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }

  dynamic "statement" {
    for_each = var.mlflow_credentials_secret_arn == "" ? [] : [var.mlflow_credentials_secret_arn]

    content {
      sid       = "MlflowCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.mlflow_credentials_kms_key_arn == null ? [] : [var.mlflow_credentials_kms_key_arn]

    content {
      sid       = "DecryptMlflowCredentials"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "least-privilege"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

# The training step's role: read the model code and the pipeline's source, write the training
# output. No secret, no MLflow, no ECR, no other object of the bucket. Tagged untrusted: the local
# emulator then authorises its requests against this policy, as AWS does (it checks no other role).
resource "aws_iam_role" "train" {
  name               = "${var.name_prefix}-pipeline-train"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
  tags               = merge(var.tags, { "mlops:untrusted" = "true" })
}

data "aws_iam_policy_document" "train" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.train.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.repository_arn == null ? [] : [local.repository_arn]

    content {
      sid       = "PullModelCode"
      actions   = ["codecommit:GitPull"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    # GitHub or GitLab: clone through the CodeConnections connection, this one only.
    for_each = aws_codeconnections_connection.this[*].arn

    content {
      sid       = "CloneThroughConnection"
      actions   = ["codeconnections:UseConnection", "codeconnections:GetConnectionToken", "codeconnections:GetConnection"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadPipelineSource"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.artifacts_bucket.arn}/pipeline/*"]
  }

  statement {
    sid       = "WriteTrainingOutput"
    actions   = ["s3:PutObject"]
    resources = ["${module.artifacts_bucket.arn}/${local.train_key_prefix}*"]
  }

  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role_policy" "train" {
  name   = "least-privilege"
  role   = aws_iam_role.train.id
  policy = data.aws_iam_policy_document.train.json
}
