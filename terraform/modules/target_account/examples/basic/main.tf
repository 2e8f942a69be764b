# One target account (stage); also the fixture of the Terraform tests.
provider "aws" {
  region = "us-east-1"
}

module "stage" {
  source = "../.."

  environment = "stage"

  # The declared models (each model project's mlops.toml [model] name): one inference function
  # each (mlops-delivery-time, mlops-churn), with the module-wide defaults unless set here.
  models = {
    "delivery-time" = {}
    "churn"         = { memory_size = 2048, smoke_max_latency_ms = 1500 }
  }

  # The zip function's first code (`mlops-pipeline package`) and where its serving zips come
  # from (the pipeline module's serving_artifacts).
  placeholder_zip       = { path = "${path.module}/../../../../../dist/lambda/placeholder.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  artifacts_bucket_arn  = "arn:aws:s3:::mlops-artifacts-abc"
  artifacts_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"

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
