# The artifacts bucket: versioned, SSE-KMS under this module's key, public access blocked,
# TLS only (the s3_bucket module; its checkov skips sit beside its resources).
module "artifacts_bucket" {
  source = "../s3_bucket"

  bucket_prefix    = "${var.name_prefix}-artifacts-"
  kms_key_arn      = aws_kms_key.this.arn
  force_destroy    = var.force_destroy
  policy_documents = [data.aws_iam_policy_document.serving_read.json]
  tags             = var.tags
}

locals {
  # Where the build puts serving zips (SERVING_KEY_PREFIX): the only keys other accounts read.
  serving_key_prefix = "serving/"
  serving_readers    = sort(distinct([for t in values(var.deploy_targets) : t.role_arn]))
}

# The target accounts' deploy roles, and nothing else, read the serving zips: UpdateFunctionCode
# with S3Bucket/S3Key/S3ObjectVersion reads the object with the caller's permissions.
data "aws_iam_policy_document" "serving_read" {
  statement {
    sid       = "DeployRolesReadServingZips"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.artifacts_bucket.arn}/${local.serving_key_prefix}*"]

    principals {
      type        = "AWS"
      identifiers = local.serving_readers
    }
  }
}

# The bucket's resources moved into the module: keep existing deployments' bucket.
moved {
  from = aws_s3_bucket.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.artifacts
  to   = module.artifacts_bucket.aws_s3_bucket_policy.this
}

resource "aws_s3_object" "build_source" {
  count = var.build_source == null ? 0 : 1

  bucket      = module.artifacts_bucket.id
  key         = local.build_source_key
  source      = var.build_source.path
  source_hash = var.build_source.base64sha256
  kms_key_id  = aws_kms_key.this.arn
  tags        = var.tags

  # Written only once the bucket's default encryption and policy are in place.
  depends_on = [module.artifacts_bucket]
}

resource "aws_ecr_repository" "serving" {
  name                 = "${var.name_prefix}/serving"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = var.tags
}

# Only untagged images ever expire. Every serving image is tagged <model>-<version> and the
# tags are IMMUTABLE, so no tag can be moved onto the image a `live` alias or its rollback
# target runs: no rule can tell those images from old ones, and a count over tagged images
# would sooner or later expire one that a published Lambda version still runs (Lambda then
# fails to start it). Untagged images are failed or interrupted pushes. Deleting an old model
# image is a deliberate act (docs/serving.md: only images no published version uses).
resource "aws_ecr_lifecycle_policy" "serving" {
  repository = aws_ecr_repository.serving.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images (failed or interrupted pushes)"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = var.untagged_image_expiry_days }
        action       = { type = "expire" }
      },
    ]
  })
}

resource "aws_ecr_repository_policy" "serving" {
  repository = aws_ecr_repository.serving.name
  policy     = data.aws_iam_policy_document.ecr.json
}

# Cross-account pull for container-image Lambdas: the target accounts (their deploy role
# checks the image on UpdateFunctionCode) and the Lambda service acting for a function
# in those accounts.
data "aws_iam_policy_document" "ecr" {
  statement {
    sid     = "TargetAccountsPull"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

    principals {
      type        = "AWS"
      identifiers = [for a in var.image_consumer_account_ids : "arn:${local.partition}:iam::${a}:root"]
    }
  }

  statement {
    sid     = "LambdaServicePull"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = var.image_consumer_account_ids
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for a in var.image_consumer_account_ids : "arn:${local.partition}:lambda:${local.region}:${a}:function:*"]
    }
  }
}
