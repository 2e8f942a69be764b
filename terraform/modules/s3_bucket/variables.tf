variable "bucket_prefix" {
  description = "Prefix of the bucket name; AWS appends a unique suffix (e.g. \"mlops-artifacts-\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{2,36}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 3-37 characters: lowercase letters, digits, dots and dashes, starting with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the bucket's default encryption (SSE-KMS with an S3 bucket key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket while it still holds objects (throwaway environments only)."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "policy_documents" {
  description = "IAM policy documents (JSON) merged into the bucket policy, e.g. another account's read of one prefix; each statement needs a Sid of its own."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to the bucket."
  type        = map(string)
  default     = {}
}
