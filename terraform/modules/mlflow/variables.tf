variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC of the service and the database (network module output or an existing VPC)."
  type        = string
}

variable "task_subnet_ids" {
  description = "Subnets of the MLflow task: public subnets when there is no NAT gateway (assign_public_ip), private ones otherwise."
  type        = list(string)

  validation {
    condition     = length(var.task_subnet_ids) > 0
    error_message = "task_subnet_ids needs at least one subnet."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (two AZs at least) for Aurora and the API Gateway VPC link."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs subnets in at least two availability zones (Aurora requires it)."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets for the ALB (front_door = alb only)."
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Give the task a public IPv4 address (needed without a NAT gateway or VPC endpoints to reach ECR, S3 and Secrets Manager; 3.65 USD/month)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the database, bucket, secrets and logs (the pipeline module's key: one key for the account keeps the idle cost down)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "front_door" {
  description = "How clients reach MLflow: api_gateway (HTTP API + VPC link + Cloud Map; HTTPS, nothing to pay while idle) or alb (Application Load Balancer; HTTPS when certificate_arn is set)."
  type        = string
  default     = "api_gateway"

  validation {
    condition     = contains(["api_gateway", "alb"], var.front_door)
    error_message = "front_door must be api_gateway or alb."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for the ALB's HTTPS listener (front_door = alb)."
  type        = string
  default     = null
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB (front_door = alb)."
  type        = list(string)
  default     = []
}

variable "image_tag" {
  description = "Tag of the MLflow server image (docker/mlflow) in this module's ECR repository."
  type        = string
  default     = "3.17.2-2"
}

variable "image_uri" {
  description = "Full MLflow server image URI, overriding this module's repository and image_tag."
  type        = string
  default     = null
}

variable "cpu" {
  description = "Task CPU units (ARM64 Fargate): 256 = 0.25 vCPU."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048], var.cpu)
    error_message = "cpu must be 256, 512, 1024 or 2048."
  }
}

variable "memory" {
  description = "Task memory (MiB); must fit the cpu (256 CPU: 512-2048)."
  type        = number
  default     = 512
}

variable "desired_count" {
  description = "Running tasks: 1 (always on) or 0 (scaled to zero; start it before a pipeline run)."
  type        = number
  default     = 1

  validation {
    condition     = var.desired_count >= 0 && var.desired_count <= 2
    error_message = "desired_count must be 0, 1 or 2."
  }
}

variable "fargate_spot" {
  description = "Run the task on Fargate Spot (about 70 % cheaper; may be interrupted with two minutes' notice)."
  type        = bool
  default     = false
}

variable "aurora" {
  description = "Aurora Serverless v2 (PostgreSQL): engine version a new cluster starts with (RDS upgrades minor versions itself; 0 ACU needs 13.15+, 14.12+, 15.7+, 16.3+ or 17+), capacity range in ACU (min 0 = pause when idle), seconds idle before pausing."
  type = object({
    engine_version           = optional(string, "16.6")
    min_capacity             = optional(number, 0)
    max_capacity             = optional(number, 2)
    seconds_until_auto_pause = optional(number, 300)
    backup_retention_days    = optional(number, 7)
  })
  default = {}

  validation {
    condition     = var.aurora.min_capacity >= 0 && var.aurora.max_capacity >= max(var.aurora.min_capacity, 1)
    error_message = "aurora.min_capacity must be >= 0 and max_capacity >= max(min_capacity, 1)."
  }

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.aurora.engine_version))
    error_message = "aurora.engine_version must be an Aurora PostgreSQL version such as 16.6 (major.minor)."
  }

  # Auto-pause at 0 ACU exists from these minor versions on (Aurora PostgreSQL 17 has it throughout).
  validation {
    condition = var.aurora.min_capacity > 0 || try(
      tonumber(split(".", var.aurora.engine_version)[0]) >= 17 ||
      tonumber(split(".", var.aurora.engine_version)[1]) >= lookup({ "13" = 15, "14" = 12, "15" = 7, "16" = 3 }, split(".", var.aurora.engine_version)[0], 999),
      false
    )
    error_message = "aurora.min_capacity = 0 (auto-pause) needs Aurora PostgreSQL 13.15+, 14.12+, 15.7+, 16.3+ or 17+; choose such an engine_version or a min_capacity above 0."
  }
}

variable "deletion_protection" {
  description = "Protect the database (and the ALB) from deletion; off only for throwaway environments."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete the non-empty artifact bucket and image repository."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the service's and the front door's log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "pipeline_username" {
  description = "MLflow user of the pipeline's Lambdas and CodeBuild."
  type        = string
  default     = "mlops-pipeline"
}

variable "write_passwords" {
  description = "Write admin_password and flask_secret_key (admin secret) and pipeline_password (pipeline secret), write-only, never in state. False: set the two secrets' values yourself."
  type        = bool
  default     = false
}

variable "admin_password" {
  description = "MLflow admin password (ephemeral: generate it in the root with ephemeral \"aws_secretsmanager_random_password\")."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "pipeline_password" {
  description = "Password of the pipeline's MLflow user (ephemeral, like admin_password)."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "flask_secret_key" {
  description = "Flask secret key of the MLflow server (CSRF and sessions; MLflow refuses to start without one). Ephemeral, like admin_password."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "passwords_version" {
  description = "Bump to write new passwords and a new Flask secret key (rotation); MLflow's stored users must be updated through its API too."
  type        = number
  default     = 1
}
