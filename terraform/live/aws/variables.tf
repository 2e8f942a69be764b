variable "region" {
  description = "AWS region of all three accounts."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mlops"
}

variable "stage_account_id" {
  description = "Account id of the stage account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.stage_account_id))
    error_message = "stage_account_id must be a 12-digit account id."
  }
}

variable "prod_account_id" {
  description = "Account id of the prod account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.prod_account_id))
    error_message = "prod_account_id must be a 12-digit account id."
  }
}

variable "target_admin_role_name" {
  description = "Role Terraform assumes in the stage and prod accounts (Organizations creates OrganizationAccountAccessRole)."
  type        = string
  default     = "OrganizationAccountAccessRole"
}

variable "lambda_dist_dir" {
  description = "Output directory of `mlops-pipeline package` (holds manifest.json, core.zip, registry.zip, placeholder.zip, pipeline-src.zip)."
  type        = string
  default     = "../../../dist/lambda"
}

variable "lambda_architecture" {
  description = "CPU architecture of every Lambda function, the serving zips' wheels and the CodeBuild machine: arm64 or x86_64. Package with `mlops-pipeline package --architecture` of the same value."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }

  validation {
    condition     = try(jsondecode(file("${var.lambda_dist_dir}/manifest.json")).architecture, var.lambda_architecture) == var.lambda_architecture
    error_message = "lambda_dist_dir was packaged for another architecture: run `mlops-pipeline package --architecture <lambda_architecture>`."
  }
}

variable "serving_package_type" {
  description = "What the inference functions run: Zip (default; serving zips from the artifacts bucket, no Docker in the build) or Image (container images; the build runs Docker in privileged mode and the placeholder image must be pushed first, docs/deploy-aws.md). Changing it re-creates the functions."
  type        = string
  default     = "Zip"

  validation {
    condition     = contains(["Zip", "Image"], var.serving_package_type)
    error_message = "serving_package_type must be Zip or Image."
  }
}

variable "models" {
  description = "The declared models (each model project's mlops.toml [model] name) and their inference functions' settings: one function with alias live per model in stage and in prod (the target_account module's models: memory_size, timeout, reserved_concurrency, function_name, function_url, smoke_max_latency_ms). The pipeline trains, builds and deploys no other model."
  type = map(object({
    memory_size          = optional(number)
    timeout              = optional(number)
    reserved_concurrency = optional(number)
    function_name        = optional(string)
    function_url         = optional(bool)
    smoke_max_latency_ms = optional(number)
  }))
  default  = { "delivery-time" = {} }
  nullable = false
}

variable "placeholder_image_tag" {
  description = "With serving_package_type Image: tag of the single-platform image the inference functions are created with (push it to the serving repository first, docs/deploy-aws.md)."
  type        = string
  default     = "placeholder"
}

variable "snapstart" {
  description = "Lambda SnapStart for the inference functions' published versions (Zip only; costs a cache charge per version and a restore charge, docs/serving.md)."
  type        = bool
  default     = false
}

variable "slack_channel" {
  description = "Slack channel id where runs are reported."
  type        = string
}

variable "approvers" {
  description = "Slack user ids allowed to approve."
  type        = list(string)
  default     = []
}

variable "approver_group" {
  description = "Slack user group id whose members may approve."
  type        = string
  default     = ""
}

variable "required_approvals" {
  description = "How many different allowed approvers must approve (1-5); an author identity_map cannot resolve needs at least 2."
  type        = number
  default     = 1
}

variable "identity_map" {
  description = "Who pushed -> Slack user id, so an author cannot approve their own model: IAM user ARN, assumed-role session ARN, <role>/<session>, an Identity Center session name, github:<login> (the pipeline module's identity_map)."
  type        = map(string)
  default     = {}
}

variable "identity_lookup" {
  description = "none, or identity_center_email: look a pusher identity_map does not name up in Slack by their Identity Center session's email address."
  type        = string
  default     = "none"
}

variable "approval_timeout_seconds" {
  description = "How long an approval waits."
  type        = number
  default     = 86400
}

variable "rollout" {
  description = "How prod moves to a new version (the pipeline module's rollout; docs/deploy-aws.md): gradual (steps of live's traffic, each baked and judged on CloudWatch metrics) or all_at_once. Unset fields take the module's defaults; \"off\" switches a p99 limit off."
  type = object({
    mode                  = optional(string, "gradual")
    steps                 = optional(list(number), [10, 100])
    bake_seconds          = optional(number, 300)
    max_error_rate        = optional(number, 1)
    max_throttles         = optional(number, 0)
    max_p99_ms            = optional(string, "off")
    max_p99_ratio         = optional(string, "1.5")
    no_traffic            = optional(string, "extend")
    max_extensions        = optional(number, 2)
    metrics_delay_seconds = optional(number, 90)
  })
  default  = {}
  nullable = false
}

variable "repository_name" {
  description = "CodeCommit repository of the model code."
  type        = string
  default     = "models"
}

variable "git_source" {
  description = "Where the model code lives: codecommit, github or gitlab (the pipeline module's git_source: a signed push webhook and a CodeConnections connection for github/gitlab)."
  type        = string
  default     = "codecommit"
}

variable "git_repository" {
  description = "With git_source github or gitlab: the repository's owner/name on github.com or gitlab.com."
  type        = string
  default     = null
}

variable "branch" {
  description = "Branch whose pushes start the pipeline."
  type        = string
  default     = "main"
}

variable "existing_network" {
  description = "Use an existing VPC instead of creating one: vpc_id, subnets for the task (public without NAT), private subnets (2+ AZs), public subnets (ALB)."
  type = object({
    vpc_id             = string
    task_subnet_ids    = list(string)
    private_subnet_ids = list(string)
    public_subnet_ids  = optional(list(string), [])
    nat_gateway        = optional(bool, false)
  })
  default = null
}

variable "mlflow_front_door" {
  description = "api_gateway (default, no idle cost) or alb."
  type        = string
  default     = "api_gateway"
}

variable "mlflow_certificate_arn" {
  description = "ACM certificate for the ALB (mlflow_front_door = alb)."
  type        = string
  default     = null
}

variable "mlflow_alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB (mlflow_front_door = alb)."
  type        = list(string)
  default     = []
}

variable "mlflow_desired_count" {
  description = "MLflow tasks: 1 always on, 0 scaled to zero."
  type        = number
  default     = 1
}

variable "mlflow_fargate_spot" {
  description = "Run MLflow on Fargate Spot."
  type        = bool
  default     = false
}

variable "chatbot" {
  description = "Relay execution status changes to Slack through AWS Chatbot too (the workspace must be authorised in the Chatbot console first)."
  type = object({
    slack_team_id    = string
    slack_channel_id = string
  })
  default = null
}

variable "chatbot_region" {
  description = "Region of the AWS Chatbot channel configuration (chatbot): one with the Chatbot API (us-east-2, us-west-2, eu-west-1, ap-southeast-1); its SNS topic may be in any region."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = contains(jsondecode(file("${path.module}/../../modules/chatbot/api_regions.json")).regions, var.chatbot_region)
    error_message = "chatbot_region must be a region with the AWS Chatbot API: ap-southeast-1, eu-west-1, us-east-2 or us-west-2."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { project = "mlops-pipeline" }
}

variable "mlflow_passwords_version" {
  description = "Bump to generate and write new MLflow passwords (then update the users in MLflow)."
  type        = number
  default     = 1
}
