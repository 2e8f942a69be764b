# Security-relevant settings of the bucket module, against a mocked AWS provider.
mock_provider "aws" {
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mlops-test-mock", id = "mlops-test-mock" }
  }
  # The policy document is asserted through its statements; its JSON is mocked.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  bucket_prefix = "mlops-test-"
  kms_key_arn   = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
}

run "private_versioned_and_encrypted" {
  command = apply

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "All four public access blocks must be on."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs are off: the bucket owner owns every object."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "The bucket must be versioned."
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      output.kms_key_arn == var.kms_key_arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled
    )
    error_message = "Default encryption is SSE-KMS with the given key and an S3 bucket key."
  }

  assert {
    condition     = !aws_s3_bucket.this.force_destroy && aws_s3_bucket.this.bucket_prefix == "mlops-test-"
    error_message = "force_destroy is off by default; the name comes from bucket_prefix."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.noncurrent_version_expiration[0].noncurrent_days]) == 30
    error_message = "Noncurrent versions expire after 30 days by default."
  }
}

run "only_tls_requests_are_allowed" {
  command = apply

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.this.statement :
      s.effect == "Deny" &&
      anytrue([for p in s.principals : p.type == "AWS" && contains(p.identifiers, "*")]) &&
      anytrue([for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && contains(c.values, "false")]) &&
      contains(s.resources, "arn:aws:s3:::mlops-test-mock") && contains(s.resources, "arn:aws:s3:::mlops-test-mock/*")
    ])
    error_message = "The bucket policy must deny every request without TLS, on the bucket and its objects."
  }

  assert {
    condition     = aws_s3_bucket_policy.this.bucket == aws_s3_bucket.this.id && aws_s3_bucket_policy.this.policy == data.aws_iam_policy_document.this.json
    error_message = "The TLS-only policy is attached to this bucket."
  }
}

run "rejects_an_invalid_prefix" {
  command = plan

  variables {
    bucket_prefix = "Not_A_Bucket"
  }

  expect_failures = [var.bucket_prefix]
}

run "rejects_a_key_that_is_not_kms" {
  command = plan

  variables {
    kms_key_arn = "alias/aws/s3"
  }

  expect_failures = [var.kms_key_arn]
}

# The caller's grants become part of the one bucket policy (the TLS-only rule stays).
run "caller_grants_join_the_bucket_policy" {
  command = apply

  variables {
    policy_documents = [jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "StageReadsServingZips"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::222222222222:role/mlops-deploy" }
        Action    = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource  = "arn:aws:s3:::mlops-test-mock/serving/*"
      }]
    })]
  }

  assert {
    condition     = jsonencode(data.aws_iam_policy_document.this.source_policy_documents) == jsonencode(var.policy_documents)
    error_message = "policy_documents must be merged into the bucket policy."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.this.statement : s.effect if s.sid == "DenyInsecureTransport"]) == "Deny"
    error_message = "The TLS-only rule stays in the merged policy."
  }

  assert {
    condition     = output.policy_id == aws_s3_bucket_policy.this.id
    error_message = "policy_id names the bucket policy."
  }
}
