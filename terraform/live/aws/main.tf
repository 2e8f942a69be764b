locals {
  manifest = jsondecode(file("${var.lambda_dist_dir}/manifest.json"))
  lambda_packages = {
    for name, p in local.manifest.packages : name => {
      path         = "${var.lambda_dist_dir}/${p.path}"
      base64sha256 = p.base64sha256
    }
  }
  build_source = try({
    path         = "${var.lambda_dist_dir}/${local.manifest.build_source.path}"
    base64sha256 = local.manifest.build_source.base64sha256
  }, null)

  network = var.existing_network != null ? var.existing_network : {
    vpc_id             = module.network[0].vpc_id
    task_subnet_ids    = module.network[0].public_subnet_ids
    private_subnet_ids = module.network[0].private_subnet_ids
    public_subnet_ids  = module.network[0].public_subnet_ids
    nat_gateway        = module.network[0].nat_gateway
  }

  bootstrap_image_uri = "${module.pipeline.ecr_repository_url}:${var.bootstrap_image_tag}"
}

module "network" {
  source = "../../modules/network"
  count  = var.existing_network == null ? 1 : 0

  name_prefix = var.name_prefix
}

module "mlflow" {
  source = "../../modules/mlflow"

  name_prefix        = var.name_prefix
  vpc_id             = local.network.vpc_id
  task_subnet_ids    = local.network.task_subnet_ids
  private_subnet_ids = local.network.private_subnet_ids
  public_subnet_ids  = local.network.public_subnet_ids
  assign_public_ip   = !local.network.nat_gateway
  kms_key_arn        = module.pipeline.kms_key_arn
  front_door         = var.mlflow_front_door
  certificate_arn    = var.mlflow_certificate_arn
  alb_ingress_cidrs  = var.mlflow_alb_ingress_cidrs
  desired_count      = var.mlflow_desired_count
  fargate_spot       = var.mlflow_fargate_spot
}

module "pipeline" {
  source = "../../modules/pipeline"

  name_prefix     = var.name_prefix
  lambda_packages = local.lambda_packages
  build_source    = local.build_source
  repository_name = var.repository_name
  branch          = var.branch

  deploy_targets = {
    stage = module.stage.deploy_target
    prod  = module.prod.deploy_target
  }
  image_consumer_account_ids = [var.stage_account_id, var.prod_account_id]

  slack_channel            = var.slack_channel
  approvers                = var.approvers
  approver_group           = var.approver_group
  approval_timeout_seconds = var.approval_timeout_seconds

  mlflow_tracking_uri           = module.mlflow.url
  mlflow_ui_url                 = module.mlflow.url
  mlflow_credentials_secret_arn = module.mlflow.pipeline_credentials_secret_arn
}

module "stage" {
  source    = "../../modules/target_account"
  providers = { aws = aws.stage }

  name_prefix          = var.name_prefix
  environment          = "stage"
  initial_image_uri    = local.bootstrap_image_uri
  image_repository_arn = module.pipeline.ecr_repository_arn
  deployer_role_arns   = module.pipeline.deployer_role_arns
}

module "prod" {
  source    = "../../modules/target_account"
  providers = { aws = aws.prod }

  name_prefix          = var.name_prefix
  environment          = "prod"
  initial_image_uri    = local.bootstrap_image_uri
  image_repository_arn = module.pipeline.ecr_repository_arn
  deployer_role_arns   = module.pipeline.deployer_role_arns
}

module "chatbot" {
  source = "../../modules/chatbot"
  count  = var.chatbot == null ? 0 : 1

  name_prefix      = var.name_prefix
  slack_team_id    = var.chatbot.slack_team_id
  slack_channel_id = var.chatbot.slack_channel_id
  sns_topic_arns   = [module.pipeline.sns_topic_arn]
}
