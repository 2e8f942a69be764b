locals {
  buildspec = coalesce(var.buildspec, templatefile("${path.module}/buildspec.yml", {}))

  build_source = var.create_repository ? {
    type     = "CODECOMMIT"
    location = aws_codecommit_repository.this[0].clone_url_http
    } : coalesce(var.external_source, {
      type     = "CODECOMMIT"
      location = "https://git-codecommit.${local.region}.amazonaws.com/v1/repos/${var.repository_name}"
  })

  build_env = merge(
    {
      MLFLOW_TRACKING_URI = var.mlflow_tracking_uri
      ECR_REPOSITORY_URI  = aws_ecr_repository.serving.repository_url
      ARTIFACTS_BUCKET    = module.artifacts_bucket.id
      PIPELINE_SOURCE_KEY = local.build_source_key
    },
    var.codebuild_environment,
  )
}

resource "aws_codecommit_repository" "this" {
  count = var.create_repository ? 1 : 0

  repository_name = var.repository_name
  #checkov:skip=CKV2_AWS_37:Model code needs no pull-request approval rule: every push is gated by the evaluation and the Slack approval before prod.
  description = "Model code: train.py + requirements.txt; pushes to ${var.branch} start the pipeline."
  kms_key_id  = aws_kms_key.this.arn
  tags        = var.tags
}

resource "aws_cloudwatch_log_group" "codebuild" {
  name              = "/aws/codebuild/${var.name_prefix}-build"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

resource "aws_codebuild_project" "this" {
  name           = "${var.name_prefix}-build"
  description    = "mlops-pipeline build: train under an MLflow run, register, build and push the serving image."
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = aws_kms_key.this.arn
  build_timeout  = var.codebuild.timeout_minutes
  #checkov:skip=CKV_AWS_316:Privileged mode runs Docker to build the serving image; the build runs pipeline-owned commands only.

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type                = var.codebuild.compute_type
    image                       = var.codebuild.image
    type                        = var.codebuild.type
    privileged_mode             = var.codebuild.privileged_mode
    image_pull_credentials_type = "CODEBUILD"

    dynamic "environment_variable" {
      for_each = local.build_env

      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }

    # MLflow's client reads these; CodeBuild resolves them from the secret at build start.
    dynamic "environment_variable" {
      for_each = var.mlflow_credentials_secret_arn == "" ? {} : {
        MLFLOW_TRACKING_USERNAME = "${var.mlflow_credentials_secret_arn}:username"
        MLFLOW_TRACKING_PASSWORD = "${var.mlflow_credentials_secret_arn}:password"
      }

      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "SECRETS_MANAGER"
      }
    }
  }

  source {
    type            = local.build_source.type
    location        = local.build_source.location
    buildspec       = local.buildspec
    git_clone_depth = 1
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild.name
      status     = "ENABLED"
    }
  }

  tags = var.tags
}
