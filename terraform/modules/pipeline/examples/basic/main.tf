# The smallest useful instance of the module; also the fixture of the Terraform tests.
provider "aws" {
  region = "us-east-1"
}

module "pipeline" {
  source = "../.."

  name_prefix = "mlops"

  lambda_packages = {
    core     = { path = "${path.module}/../../../../../dist/lambda/core.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
    registry = { path = "${path.module}/../../../../../dist/lambda/registry.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  }

  # Each target_account module's deploy_target output.
  deploy_targets = {
    stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
  }
  image_consumer_account_ids = ["222222222222", "333333333333"]

  slack_channel       = "C0123456789"
  approvers           = ["U0123456789"]
  mlflow_tracking_uri = "https://mlflow.example.com"
}

output "slack_request_url" {
  description = "Slack interactivity request URL."
  value       = module.pipeline.slack_request_url
}
