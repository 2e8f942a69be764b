# One private bucket under its own key; also the fixture of the Terraform tests.
provider "aws" {
  region = "us-east-1"
}

resource "aws_kms_key" "this" {
  description         = "example key"
  enable_key_rotation = true
  #checkov:skip=CKV2_AWS_64:Example fixture; the pipeline module's key (with a policy) is used in the roots.
}

module "bucket" {
  source = "../.."

  bucket_prefix = "mlops-example-"
  kms_key_arn   = aws_kms_key.this.arn
}

output "bucket" {
  description = "Bucket name."
  value       = module.bucket.id
}
