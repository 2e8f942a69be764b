# Fixture of tests/contract: the mlflow module as a root deploys it (default front door) and the
# pipeline module wired to it the way terraform/live/aws wires it (its mlflow_* arguments are
# the live root's, checked by tests/contract/test_pipeline_wiring.py), planned and "applied"
# against a mocked AWS provider by render.tftest.hcl. The contract tests read the ECS container
# definition, the CodeBuild project (its rendered buildspec and environment) and the Lambdas'
# environment from the resulting state.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

module "mlflow" {
  source = "../../../terraform/modules/mlflow"

  # The root writes the three secrets' values; the contract tests seed them in moto instead.
  write_passwords = false

  vpc_id             = "vpc-0123456789abcdef0"
  task_subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  kms_key_arn        = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
}

module "pipeline" {
  source = "../../../terraform/modules/pipeline"

  name_prefix = "mlops"
  lambda_packages = {
    core     = { path = "core.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
    registry = { path = "registry.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  }
  build_source = { path = "pipeline-src.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  deploy_targets = {
    stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
  }
  image_consumer_account_ids = ["222222222222", "333333333333"]
  slack_channel              = "C0123456789"
  approvers                  = ["U0123456789"]

  # As terraform/live/aws passes them.
  mlflow_tracking_uri           = module.mlflow.url
  mlflow_ui_url                 = module.mlflow.url
  mlflow_credentials_secret_arn = module.mlflow.pipeline_credentials_secret_arn
}
