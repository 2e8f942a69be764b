variable "endpoint_url" {
  description = "URL of the local AWS emulator (every service is served there)."
  type        = string
  default     = "http://127.0.0.1:4566"

  validation {
    condition     = can(regex("^https?://", var.endpoint_url))
    error_message = "endpoint_url must be an http(s) URL."
  }
}

variable "region" {
  description = "Region of the emulated accounts."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mlops"
}

variable "stage_account_id" {
  description = "Emulated stage account."
  type        = string
  default     = "222222222222"
}

variable "prod_account_id" {
  description = "Emulated prod account."
  type        = string
  default     = "333333333333"
}

variable "target_admin_role_name" {
  description = "Role Terraform assumes in stage and prod (as in the AWS root)."
  type        = string
  default     = "OrganizationAccountAccessRole"
}

variable "lambda_dist_dir" {
  description = "Output of `mlops-pipeline package --platform host` (the emulator runs the zips with this machine's Python)."
  type        = string
  default     = "../../../dist/lambda-host"
}

variable "lambda_architecture" {
  description = "CPU architecture Terraform configures, as on AWS: the functions, the build's ARCHITECTURE and the CodeBuild machine (the emulator runs everything with this machine's Python, and the local build packages for it)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
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

variable "slack_api_url" {
  description = "Slack Web API base URL: the local Slack stand-in, or https://slack.com/api/."
  type        = string
  default     = "https://slack.com/api/"
}

variable "slack_channel" {
  description = "Slack channel id for the run threads."
  type        = string
  default     = "C0LOCAL0001"
}

variable "approvers" {
  description = "Slack user ids allowed to approve."
  type        = list(string)
  default     = []
}

variable "allow_self_approval" {
  description = "Let a commit author approve their own model (handy for a one-person demo)."
  type        = bool
  default     = false
}

variable "required_approvals" {
  description = "How many different allowed approvers must approve (1-5); an author identity_map cannot resolve needs at least 2."
  type        = number
  default     = 1
}

variable "identity_map" {
  description = "Who pushed -> Slack user id (the pipeline module's identity_map). Default: the emulator's admin user, who pushes to the local git remote, is the Slack stand-in's data scientist U0AUTHOR (as the local harness maps it)."
  type        = map(string)
  default = {
    "arn:aws:iam::111111111111:user/emulator-admin" = "U0AUTHOR"
  }
}

variable "identity_lookup" {
  description = "none, or identity_center_email (look a pusher identity_map does not name up in Slack by email)."
  type        = string
  default     = "none"
}

variable "approval_timeout_seconds" {
  description = "How long an approval waits."
  type        = number
  default     = 86400
}

variable "rollout" {
  description = "How prod moves to a new version (the pipeline module's rollout). Locally: two short steps (50 %, then 100 %) of 10 s each, no metrics delay (the emulator writes Lambda's metrics at once) and no p99 ratio (every local invocation starts a fresh process, so p99s compare cold starts); the demo drives traffic during the bake."
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
  default = {
    mode                  = "gradual"
    steps                 = [50, 100]
    bake_seconds          = 10
    max_p99_ratio         = "off"
    metrics_delay_seconds = 0
  }
  nullable = false
}

variable "mlflow_tracking_uri" {
  description = "The local `mlflow server` (SQLite backend, artifacts in the emulated S3)."
  type        = string
  default     = "http://127.0.0.1:5000"
}

variable "create_slack_api" {
  description = "Create the API Gateway HTTP API for Slack interactions in the emulator."
  type        = bool
  default     = true
}

variable "lambda_environment_overrides" {
  description = "Extra environment for every pipeline Lambda (never secrets)."
  type        = map(string)
  default     = {}
}

variable "build_python" {
  description = "Python interpreter (with this project installed) that the local CodeBuild runtime uses for `mlops-pipeline build`."
  type        = string
  default     = "python3"
}

variable "local_state_dir" {
  description = "MLOPS_LOCAL_STATE for the build (where the local image store lives); empty: the build's default."
  type        = string
  default     = ""
}
