output "id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "KMS key of the bucket's default encryption (as configured on the bucket)."
  value       = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id
}

output "policy_id" {
  description = "ID of the bucket policy: depend on it where the access it grants must exist first."
  value       = aws_s3_bucket_policy.this.id
}
