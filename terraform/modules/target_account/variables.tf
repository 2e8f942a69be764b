variable "name_prefix" {
  description = "Prefix of every resource name (lowercase letters, digits and dashes)."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Which target this account is: stage or prod."
  type        = string

  validation {
    condition     = contains(["stage", "prod"], var.environment)
    error_message = "environment must be stage or prod."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "models" {
  description = "The declared models (the mlops.toml [model] name of each): one inference function each, with alias live, its own log group and execution role. Unset fields take the module-wide defaults; function_name defaults to <name_prefix>-<model with . and _ as ->."
  type = map(object({
    memory_size          = optional(number)
    timeout              = optional(number)
    reserved_concurrency = optional(number)
    function_name        = optional(string)
    function_url         = optional(bool)
    smoke_max_latency_ms = optional(number)
  }))
  nullable = false

  validation {
    condition     = length(var.models) > 0
    error_message = "models must declare at least one model."
  }

  validation {
    condition     = alltrue([for model in keys(var.models) : can(regex("^[A-Za-z0-9_.-]{1,63}$", model))])
    error_message = "Every key of models must be a model name of 1-63 letters, digits, '.', '_' or '-' (the mlops.toml [model] name)."
  }

  validation {
    condition     = alltrue([for model, m in var.models : m.function_name != null || length("${var.name_prefix}-${model}") <= 64])
    error_message = "The default function name <name_prefix>-<model> is longer than 64 characters: set a shorter function_name for that model."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : m.function_name == null || can(regex("^[A-Za-z0-9_-]{1,64}$", coalesce(m.function_name, "-")))])
    error_message = "A model's function_name must be 1-64 letters, digits, '-' or '_'."
  }

  validation {
    condition     = length(distinct([for model, m in var.models : coalesce(m.function_name, "${var.name_prefix}-${replace(replace(model, ".", "-"), "_", "-")}")])) == length(var.models)
    error_message = "Every model needs its own function: two models map to the same function name (e.g. a.b and a_b); set function_name on one of them."
  }

  validation {
    condition = alltrue([for m in values(var.models) : (
      (m.memory_size == null || (coalesce(m.memory_size, 128) >= 128 && coalesce(m.memory_size, 128) <= 10240)) &&
      (m.timeout == null || (coalesce(m.timeout, 1) >= 1 && coalesce(m.timeout, 1) <= 900)) &&
      (m.smoke_max_latency_ms == null || coalesce(m.smoke_max_latency_ms, 1) > 0)
    )])
    error_message = "A model's memory_size must be 128-10240 MB, its timeout 1-900 s and its smoke_max_latency_ms positive."
  }
}

variable "package_type" {
  description = "What the function runs: Zip (the default: zips from the tooling account's artifacts bucket) or Image (container images from the serving repository). Changing it re-creates the function."
  type        = string
  default     = "Zip"

  validation {
    condition     = contains(["Zip", "Image"], var.package_type)
    error_message = "package_type must be Zip or Image."
  }
}

variable "placeholder_zip" {
  description = "Zip the function is created with when package_type is Zip: placeholder.zip of `mlops-pipeline package` (path, base64sha256; uploaded with the create call). The pipeline replaces the code afterwards; later changes here are ignored."
  type = object({
    path         = string
    base64sha256 = string
  })
  default = null
}

variable "initial_image_uri" {
  description = "Image the function is created with when package_type is Image (the pipeline moves it afterwards; later changes here are ignored). Must be in the tooling ECR repository, one single-platform manifest."
  type        = string
  default     = null

  validation {
    condition     = var.initial_image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/.+(:.+|@sha256:[0-9a-f]{64})$", var.initial_image_uri))
    error_message = "initial_image_uri must be an ECR image URI with a tag or digest (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)."
  }
}

variable "architecture" {
  description = "CPU architecture of the function: the pipeline module's lambda_architecture (arm64 or x86_64), which the build packages for."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "snapstart" {
  description = "Lambda SnapStart on published versions (python3.12+ zip functions only): faster cold starts for a cache charge per published version and a charge per restore (docs/serving.md)."
  type        = bool
  default     = false

  validation {
    condition     = !var.snapstart || var.package_type == "Zip"
    error_message = "snapstart needs package_type Zip: this module turns SnapStart on for the python3.12 zip function only."
  }
}

variable "artifacts_bucket_arn" {
  description = "ARN of the tooling account's artifacts bucket (the pipeline module's serving_artifacts.bucket_arn): the deploy role reads serving zips from it."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_bucket_arn == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.artifacts_bucket_arn))
    error_message = "artifacts_bucket_arn must be an S3 bucket ARN."
  }
}

variable "artifacts_key_prefix" {
  description = "Key prefix of the serving zips in the artifacts bucket (the pipeline module's serving_artifacts.key_prefix): the only keys the deploy role may read."
  type        = string
  default     = "serving/"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+/$", var.artifacts_key_prefix))
    error_message = "artifacts_key_prefix must be one folder name ending in /, e.g. serving/."
  }
}

variable "artifacts_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the artifacts bucket (the pipeline module's serving_artifacts.kms_key_arn): the deploy role decrypts serving zips with it, through S3 only."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.artifacts_kms_key_arn))
    error_message = "artifacts_kms_key_arn must be a KMS key ARN."
  }
}

variable "image_repository_arn" {
  description = "ARN of the tooling account's serving image repository (the deploy role may read images from it when package_type is Image)."
  type        = string
  default     = null

  validation {
    condition     = var.image_repository_arn == null || can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.image_repository_arn))
    error_message = "image_repository_arn must be an ECR repository ARN."
  }
}

variable "deployer_role_arns" {
  description = "Tooling account roles that may assume the deploy role: this environment's deploy and rollback Lambda roles (the pipeline module's deployer_role_arns[environment])."
  type        = list(string)

  validation {
    condition     = length(var.deployer_role_arns) > 0 && alltrue([for a in var.deployer_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "deployer_role_arns must be a non-empty list of IAM role ARNs (never account roots)."
  }
}

variable "smoke_test_role_arns" {
  description = "Tooling account roles that may assume the invoke role (lambda:InvokeFunction on the alias only; in prod also on the published versions): this environment's smoke test Lambda role (the pipeline module's smoke_test_role_arns[environment])."
  type        = list(string)

  validation {
    condition     = length(var.smoke_test_role_arns) > 0 && alltrue([for a in var.smoke_test_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "smoke_test_role_arns must be a non-empty list of IAM role ARNs (never account roots)."
  }

  validation {
    condition     = length(setintersection(var.smoke_test_role_arns, var.deployer_role_arns)) == 0
    error_message = "A smoke test role may not also be a deployer: it gets the invoke role only."
  }
}

variable "external_id" {
  description = "Optional sts:ExternalId the deployer must present."
  type        = string
  default     = null
}

variable "alias_name" {
  description = "Alias the pipeline moves to each new version."
  type        = string
  default     = "live"
}

variable "memory_size" {
  description = "Memory of each inference function (MB) whose model does not set memory_size."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout of each inference function (seconds) whose model does not set timeout."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of each inference function whose model does not set reserved_concurrency (-1: unreserved)."
  type        = number
  default     = -1
}

variable "function_url" {
  description = "Create a Function URL (IAM auth) on the alias of each function whose model does not set function_url."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group (null: CloudWatch Logs' own encryption; a key costs 1 USD/month per account)."
  type        = string
  default     = null
}

variable "artifact_access_ids" {
  description = "IDs of the tooling account's grants the function's first code is read through (the pipeline module's artifact_access_ids): the function is created only after them."
  type        = list(string)
  default     = []
}
