# Test fixture, never deployed: a bucket as the pipeline and mlflow modules wrote it inline
# before the s3_bucket module existed (addresses aws_s3_*.artifacts). Their tests apply it
# first and then the module on the same state, to show the moved blocks keep the bucket.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "bucket_prefix" {
  description = "Prefix of the bucket name, as the module under test builds it."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket's default encryption."
  type        = string
}

resource "aws_s3_bucket" "artifacts" {
  bucket_prefix = var.bucket_prefix
  #checkov:skip=CKV_AWS_18:Test fixture of the moved blocks; never deployed.
  #checkov:skip=CKV_AWS_144:Test fixture of the moved blocks; never deployed.
  #checkov:skip=CKV2_AWS_62:Test fixture of the moved blocks; never deployed.
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-noncurrent"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({ Version = "2012-10-17", Statement = [] })
}

output "bucket_id" {
  description = "Name of the bucket before the move."
  value       = aws_s3_bucket.artifacts.id
}
