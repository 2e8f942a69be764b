# One target account (stage); also the fixture of the Terraform tests.
provider "aws" {
  region = "us-east-1"
}

module "stage" {
  source = "../.."

  environment          = "stage"
  initial_image_uri    = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:bootstrap"
  image_repository_arn = "arn:aws:ecr:us-east-1:111111111111:repository/mlops/serving"
  # The pipeline module's deployer_role_arns["stage"] and smoke_test_role_arns["stage"].
  deployer_role_arns = [
    "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda",
    "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda",
  ]
  smoke_test_role_arns = ["arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda"]
}

output "deploy_target" {
  description = "Entry for the pipeline's deploy_targets."
  value       = module.stage.deploy_target
}
