# The same pipeline and target_account modules as the AWS root, against the emulator.
# Left out (AWS-only): network, mlflow (a local `mlflow server` runs instead), chatbot.
locals {
  manifest = jsondecode(file("${var.lambda_dist_dir}/manifest.json"))
  lambda_packages = {
    for name, p in local.manifest.packages : name => {
      path         = "${var.lambda_dist_dir}/${p.path}"
      base64sha256 = p.base64sha256
    }
  }
  # The inference functions' first code: placeholder.zip of the same `mlops-pipeline package` run.
  placeholder_zip = {
    path         = "${var.lambda_dist_dir}/${local.manifest.placeholder.path}"
    base64sha256 = local.manifest.placeholder.base64sha256
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  name_prefix     = var.name_prefix
  lambda_packages = local.lambda_packages
  # Local builds run `mlops-pipeline build` from this checkout: no source upload.
  build_source = null

  deploy_targets = {
    stage = module.stage.deploy_target
    prod  = module.prod.deploy_target
  }
  image_consumer_account_ids = [var.stage_account_id, var.prod_account_id]
  lambda_architecture        = var.lambda_architecture

  slack_api_url            = var.slack_api_url
  slack_channel            = var.slack_channel
  approvers                = var.approvers
  allow_self_approval      = var.allow_self_approval
  required_approvals       = var.required_approvals
  identity_map             = var.identity_map
  identity_lookup          = var.identity_lookup
  approval_timeout_seconds = var.approval_timeout_seconds
  rollout                  = var.rollout
  mlflow_tracking_uri      = var.mlflow_tracking_uri
  mlflow_ui_url            = var.mlflow_tracking_uri

  create_slack_api             = var.create_slack_api
  lambda_environment_overrides = var.lambda_environment_overrides
  codebuild                    = { privileged_mode = false }
  # The module's own buildspec: the emulator's CodeBuild runtime runs it on this machine, where
  # the pipeline is installed already (MLOPS_LOCAL_STATE: its install phase installs nothing).
  codebuild_environment = merge({ PYTHON = var.build_python }, var.local_state_dir == "" ? {} : { MLOPS_LOCAL_STATE = var.local_state_dir })
  train_environment     = merge({ PYTHON = var.build_python }, var.local_state_dir == "" ? {} : { MLOPS_LOCAL_STATE = var.local_state_dir })

  # Throwaway state: allow terraform destroy.
  deletion_protection      = false
  force_destroy            = true
  kms_deletion_window_days = 7
}

module "stage" {
  source    = "../../modules/target_account"
  providers = { aws = aws.stage }

  name_prefix = var.name_prefix
  environment = "stage"
  # One inference function per declared model (the same models in both accounts).
  models = var.models

  image_repository_arn = module.pipeline.ecr_repository_arn
  # Only this environment's functions: its deploy and rollback roles, its smoke test's role.
  deployer_role_arns   = module.pipeline.deployer_role_arns["stage"]
  smoke_test_role_arns = module.pipeline.smoke_test_role_arns["stage"]

  # The serving artifact: what the function runs, for which CPU, and where its zips come from.
  package_type          = "Zip"
  architecture          = var.lambda_architecture
  snapstart             = false
  placeholder_zip       = local.placeholder_zip
  artifacts_bucket_arn  = module.pipeline.serving_artifacts.bucket_arn
  artifacts_key_prefix  = module.pipeline.serving_artifacts.key_prefix
  artifacts_kms_key_arn = module.pipeline.serving_artifacts.kms_key_arn
  # Created only once the tooling account grants the deploy role its reads (first apply).
  artifact_access_ids = module.pipeline.artifact_access_ids
}

module "prod" {
  source    = "../../modules/target_account"
  providers = { aws = aws.prod }

  name_prefix = var.name_prefix
  environment = "prod"
  # One inference function per declared model (the same models in both accounts).
  models = var.models

  image_repository_arn = module.pipeline.ecr_repository_arn
  # Only this environment's functions: its deploy and rollback roles, its smoke test's role.
  deployer_role_arns   = module.pipeline.deployer_role_arns["prod"]
  smoke_test_role_arns = module.pipeline.smoke_test_role_arns["prod"]

  # The serving artifact: what the function runs, for which CPU, and where its zips come from.
  package_type          = "Zip"
  architecture          = var.lambda_architecture
  snapstart             = false
  placeholder_zip       = local.placeholder_zip
  artifacts_bucket_arn  = module.pipeline.serving_artifacts.bucket_arn
  artifacts_key_prefix  = module.pipeline.serving_artifacts.key_prefix
  artifacts_kms_key_arn = module.pipeline.serving_artifacts.kms_key_arn
  # Created only once the tooling account grants the deploy role its reads (first apply).
  artifact_access_ids = module.pipeline.artifact_access_ids
}
