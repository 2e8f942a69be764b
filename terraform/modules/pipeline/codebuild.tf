locals {
  buildspec       = coalesce(var.buildspec, templatefile("${path.module}/buildspec.yml", {}))
  train_buildspec = coalesce(var.train_buildspec, templatefile("${path.module}/buildspec_train.yml", {}))
  # Where each execution's training output goes (the state machine names the key; both
  # projects' roles are scoped to this prefix).
  train_key_prefix = "train/"

  # lambda_architecture drives every architecture-dependent setting: the functions, the build's
  # wheels (ARCHITECTURE), the CodeBuild machine and the image --platform (from ARCHITECTURE).
  build_machines = {
    arm64  = { type = "ARM_CONTAINER", image = "aws/codebuild/amazonlinux-aarch64-standard:3.0" }
    x86_64 = { type = "LINUX_CONTAINER", image = "aws/codebuild/amazonlinux-x86_64-standard:5.0" }
  }
  codebuild_type  = coalesce(var.codebuild.type, local.build_machines[var.lambda_architecture].type)
  codebuild_image = coalesce(var.codebuild.image, local.build_machines[var.lambda_architecture].image)
  # Docker runs only for serving images; a zip needs neither Docker nor privileged mode.
  codebuild_privileged = var.codebuild.privileged_mode || var.serving_package_type == "Image"

  # Where both projects clone the model code: the CodeCommit repository, or (git_source github or
  # gitlab) the host's repository through the CodeConnections connection (webhook.tf).
  codecommit_source = local.create_codecommit ? {
    type     = "CODECOMMIT"
    location = aws_codecommit_repository.this[0].clone_url_http
    } : coalesce(var.external_source, {
      type     = "CODECOMMIT"
      location = "https://git-codecommit.${local.region}.amazonaws.com/v1/repos/${var.repository_name}"
  })
  build_source = local.webhook_enabled ? {
    type       = local.git_host.codebuild_type
    location   = "${local.git_host.url}/${var.git_repository}.git"
    connection = aws_codeconnections_connection.this[0].arn
  } : merge(local.codecommit_source, { connection = null })
  create_codecommit = var.create_repository && !local.webhook_enabled

  build_env = merge(
    {
      MLFLOW_TRACKING_URI = var.mlflow_tracking_uri
      ECR_REPOSITORY_URI  = aws_ecr_repository.serving.repository_url
      ARTIFACTS_BUCKET    = module.artifacts_bucket.id
      PIPELINE_SOURCE_KEY = local.build_source_key
      # The serving artifact: zips under this prefix (the target accounts' deploy roles read it),
      # wheels for this architecture, and what the inference functions run (Zip or Image).
      SERVING_KEY_PREFIX   = local.serving_key_prefix
      ARCHITECTURE         = var.lambda_architecture
      SERVING_PACKAGE_TYPE = var.serving_package_type
    },
    # The policy caps over mlops.toml (codebuild_environment may not set them).
    local.gate_env,
    { SERVING_MAX_ROWS_FLOOR = tostring(var.serving_max_rows.floor), SERVING_MAX_ROWS_CAP = tostring(var.serving_max_rows.cap) },
    var.codebuild_environment,
    # The models with inference functions: the build refuses any other (no validation lets the
    # settings above set it; last, so nothing overrides it).
    local.declared_models_env,
  )
}

resource "aws_codecommit_repository" "this" {
  count = local.create_codecommit ? 1 : 0

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
  description    = "mlops-pipeline build: train under an MLflow run, register, publish the serving artifact (zip, or image)."
  service_role   = aws_iam_role.codebuild.arn
  encryption_key = aws_kms_key.this.arn
  build_timeout  = var.codebuild.timeout_minutes
  #checkov:skip=CKV_AWS_316:Privileged mode is off unless serving_package_type is Image (Docker builds the serving image); the build runs pipeline-owned commands only.

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type                = var.codebuild.compute_type
    image                       = local.codebuild_image
    type                        = local.codebuild_type
    privileged_mode             = local.codebuild_privileged
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

    dynamic "auth" {
      for_each = local.build_source.connection == null ? [] : [local.build_source.connection]

      content {
        type     = "CODECONNECTIONS"
        resource = auth.value
      }
    }
  }

  # The downloaded wheels (buildspec cache paths) stay on the build host between builds.
  cache {
    type  = "LOCAL"
    modes = ["LOCAL_CUSTOM_CACHE"]
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild.name
      status     = "ENABLED"
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      # An override of the machine must still build for the functions' architecture.
      condition     = local.codebuild_type == local.build_machines[var.lambda_architecture].type && strcontains(local.codebuild_image, var.lambda_architecture == "arm64" ? "aarch64" : "x86_64")
      error_message = "codebuild.type and codebuild.image must match lambda_architecture (arm64: ARM_CONTAINER and an aarch64 image; x86_64: LINUX_CONTAINER and an x86_64 image)."
    }
  }
}

# --- The untrusted training step -------------------------------------------------------
# It runs the model author's train.py: its own project and role, no MLflow address or
# credentials, no ECR, no Docker or privileged mode, and nothing but the training output to write.

resource "aws_cloudwatch_log_group" "train" {
  name              = "/aws/codebuild/${var.name_prefix}-train"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

resource "aws_codebuild_project" "train" {
  name           = "${var.name_prefix}-train"
  description    = "mlops-pipeline train: the model's train.py without the pipeline's keys; writes the training output."
  service_role   = aws_iam_role.train.arn
  encryption_key = aws_kms_key.this.arn
  build_timeout  = var.codebuild.timeout_minutes

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type                = var.codebuild.compute_type
    image                       = local.codebuild_image
    type                        = local.codebuild_type
    privileged_mode             = false
    image_pull_credentials_type = "CODEBUILD"

    dynamic "environment_variable" {
      # Plain values only: this project never gets a secret, an MLflow address or ECR.
      for_each = merge(
        {
          ARTIFACTS_BUCKET    = module.artifacts_bucket.id
          PIPELINE_SOURCE_KEY = local.build_source_key
        },
        local.gate_env,
        var.train_environment,
        # Training refuses a model this deployment has no inference functions for.
        local.declared_models_env,
      )

      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }
  }

  source {
    type            = local.build_source.type
    location        = local.build_source.location
    buildspec       = local.train_buildspec
    git_clone_depth = 1

    dynamic "auth" {
      for_each = local.build_source.connection == null ? [] : [local.build_source.connection]

      content {
        type     = "CODECONNECTIONS"
        resource = auth.value
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.train.name
      status     = "ENABLED"
    }
  }

  tags = var.tags
}
