# Fixture of tests/contract: the mlflow module as a root deploys it (default front door), planned
# and "applied" against a mocked AWS provider by render.tftest.hcl. The contract tests read the
# ECS container definition from the resulting state and run docker/mlflow/entrypoint.py with it.
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
