# MLflow with the default front door (API Gateway) on the default network; also a test fixture.
provider "aws" {
  region = "us-east-1"
}

module "network" {
  source = "../../../network"
}

resource "aws_kms_key" "this" {
  description         = "example key"
  enable_key_rotation = true
  #checkov:skip=CKV2_AWS_64:Example fixture; the pipeline module's key (with a policy) is used in the roots.
}

module "mlflow" {
  source = "../.."

  vpc_id             = module.network.vpc_id
  task_subnet_ids    = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  kms_key_arn        = aws_kms_key.this.arn
}

output "url" {
  description = "MLflow URL."
  value       = module.mlflow.url
}
