variable "name_prefix" {
  description = "Prefix of every resource name (lowercase letters, digits and dashes)."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource. The training role also carries `mlops:untrusted = \"true\"`: the local emulator authorises that role's requests against its policy, as AWS does (it checks no other caller)."
  type        = map(string)
  default     = {}
}

variable "lambda_packages" {
  description = "The zips built by `mlops-pipeline package`: key `core` and `registry`, each with the zip's `path` and `base64sha256` (see dist/lambda/manifest.json)."
  type = map(object({
    path         = string
    base64sha256 = string
  }))

  validation {
    condition     = alltrue([for k in ["core", "registry"] : contains(keys(var.lambda_packages), k)])
    error_message = "lambda_packages needs the keys core and registry (from dist/lambda/manifest.json)."
  }
}

variable "build_source" {
  description = "pipeline-src.zip from `mlops-pipeline package` (path, base64sha256): uploaded to the artifacts bucket for CodeBuild to install. Null leaves the upload out (local mode runs the build in place)."
  type = object({
    path         = string
    base64sha256 = string
  })
  default = null
}

variable "create_repository" {
  description = "Create the CodeCommit repository for the model code. False: trigger on `external_repository_arn` instead (a repository that lives elsewhere)."
  type        = bool
  default     = true
}

variable "repository_name" {
  description = "Name of the model code repository."
  type        = string
  default     = "models"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.repository_name))
    error_message = "repository_name may hold letters, digits, '.', '_' and '-' (1-100 characters)."
  }
}

variable "external_repository_arn" {
  description = "ARN of an existing CodeCommit repository (used when create_repository is false)."
  type        = string
  default     = null

  validation {
    condition     = var.external_repository_arn == null || can(regex("^arn:aws[a-z-]*:codecommit:", var.external_repository_arn))
    error_message = "external_repository_arn must be a CodeCommit repository ARN."
  }
}

variable "external_source" {
  description = "CodeBuild source when create_repository is false: type (CODECOMMIT, GITHUB, BITBUCKET, GITLAB) and clone URL."
  type = object({
    type     = string
    location = string
  })
  default = null
}

variable "git_source" {
  description = "Where the model code lives: codecommit (an EventBridge rule on the CodeCommit repository starts the pipeline), github or gitlab (the git host's signed push webhook does, at git_webhook_url; CodeBuild clones through an AWS CodeConnections connection, completed once in the console)."
  type        = string
  default     = "codecommit"

  validation {
    condition     = contains(["codecommit", "github", "gitlab"], var.git_source)
    error_message = "git_source must be one of: codecommit, github, gitlab."
  }
}

variable "git_repository" {
  description = "With git_source github or gitlab: the model repository's path on github.com or gitlab.com (`owner/name`, GitLab `group/subgroup/project`). Pushes to any other repository are ignored."
  type        = string
  default     = null

  validation {
    condition     = var.git_source == "codecommit" ? var.git_repository == null : can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", coalesce(var.git_repository, "-")))
    error_message = "git_repository is required with git_source github or gitlab (owner/name, letters, digits, '.', '_', '-'), and must be null with codecommit."
  }
}

variable "branch" {
  description = "Branch whose pushes start the pipeline."
  type        = string
  default     = "main"
}

variable "deploy_targets" {
  description = "Where the pipeline deploys: keys `stage` and `prod`, each the target account's deploy role ARN (assumed by that environment's deploy and rollback functions), invoke role ARN (assumed by its smoke test), alias, optional sts:ExternalId and, per declared model, its inference function (function_name, smoke_max_latency_ms; the target_account module's deploy_target output). Every environment declares the same models."
  type = map(object({
    role_arn        = string
    invoke_role_arn = string
    alias           = optional(string, "live")
    external_id     = optional(string)
    functions = map(object({
      function_name        = string
      smoke_max_latency_ms = optional(number)
    }))
  }))

  validation {
    condition     = alltrue([for k in ["stage", "prod"] : contains(keys(var.deploy_targets), k)])
    error_message = "deploy_targets needs the keys stage and prod."
  }

  validation {
    condition     = alltrue(flatten([for t in values(var.deploy_targets) : [for a in [t.role_arn, t.invoke_role_arn] : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))]]))
    error_message = "Every deploy_targets role_arn and invoke_role_arn must be an IAM role ARN."
  }

  validation {
    condition     = length(distinct(flatten([for t in values(var.deploy_targets) : [t.role_arn, t.invoke_role_arn]]))) == 2 * length(var.deploy_targets)
    error_message = "Every deploy_targets role must be its own: stage and prod need distinct deploy roles, and no smoke test's invoke role may be a deploy role."
  }

  validation {
    condition     = alltrue([for t in values(var.deploy_targets) : length(t.functions) > 0 && alltrue([for model, f in t.functions : can(regex("^[A-Za-z0-9_.-]{1,63}$", model)) && can(regex("^[A-Za-z0-9_-]{1,64}$", f.function_name))])])
    error_message = "Every deploy_targets entry needs functions: at least one model (names of 1-63 letters, digits, '.', '_', '-'), each with a function_name (the target_account module's models)."
  }

  validation {
    condition     = length(distinct([for t in values(var.deploy_targets) : jsonencode(sort(keys(t.functions)))])) <= 1
    error_message = "Every environment of deploy_targets must declare the same models (the same target_account models in stage and prod): a model promoted from stage needs its function in prod."
  }
}

variable "image_consumer_account_ids" {
  description = "Accounts (stage, prod) whose Lambda functions may pull serving images from the ECR repository."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.image_consumer_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "image_consumer_account_ids must be 12-digit account ids."
  }
}

variable "slack_channel" {
  description = "Slack channel id where runs are reported (SLACK_CHANNEL)."
  type        = string
}

variable "slack_api_url" {
  description = "Slack Web API base URL (SLACK_API_URL); the local Slack stand-in in local mode."
  type        = string
  default     = "https://slack.com/api/"
}

variable "approvers" {
  description = "Slack user ids allowed to approve (APPROVERS)."
  type        = list(string)
  default     = []
}

variable "approver_group" {
  description = "Slack user group id whose members may approve (APPROVER_GROUP)."
  type        = string
  default     = ""
}

variable "allow_self_approval" {
  description = "Let a commit author approve their own model (ALLOW_SELF_APPROVAL)."
  type        = bool
  default     = false
}

variable "required_approvals" {
  description = "How many different allowed approvers must approve, 1-5 (REQUIRED_APPROVALS); an author the identity map cannot resolve raises it to at least 2. A Reject from any allowed approver rejects at once."
  type        = number
  default     = 1

  validation {
    condition     = var.required_approvals >= 1 && var.required_approvals <= 5 && floor(var.required_approvals) == var.required_approvals
    error_message = "required_approvals must be a whole number from 1 to 5."
  }
}

variable "identity_map" {
  description = "Trigger principal -> Slack user id (IDENTITY_MAP), to know the author, who may not approve their own model. Keys: a full IAM user or assumed-role session ARN; `<role>/<session>` (an assumed-role session of any account); a bare session name (Identity Center `AWSReservedSSO_*` roles only); `github:<login>` or `gitlab:<username>`. ARNs match exactly; the git author email is never used."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.identity_map) : can(regex("^[UW][A-Z0-9]{2,}$", v))])
    error_message = "Every identity_map value must be a Slack user id (U... or W...)."
  }

  validation {
    condition     = alltrue([for k in keys(var.identity_map) : trimspace(k) != "" && (!startswith(k, "arn:") || can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+$", k)))])
    error_message = "Every identity_map key must be non-empty, and an ARN key an IAM or STS ARN (arn:aws:iam::<account>:user/<name>, arn:aws:sts::<account>:assumed-role/<role>/<session>)."
  }

  validation {
    condition     = !anytrue([for k in keys(var.identity_map) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", k))])
    error_message = "An identity_map key may not be a role ARN: it matches no session (a role's sessions may be many people). Use the assumed-role session ARN or <role>/<session>."
  }

  validation {
    condition     = length(jsonencode(var.identity_map)) <= 3072
    error_message = "identity_map must fit in 3 KB of JSON: Lambda allows 4 KB of environment in all. Map roles' sessions by <role>/<session>, or use identity_lookup = \"identity_center_email\"."
  }
}

variable "identity_lookup" {
  description = "How a pusher identity_map does not name is found (IDENTITY_LOOKUP): none, or identity_center_email (an Identity Center role session whose name is an email address is looked up by that address in Slack; needs the users:read.email scope)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "identity_center_email"], var.identity_lookup)
    error_message = "identity_lookup must be one of: none, identity_center_email."
  }
}

variable "approval_timeout_seconds" {
  description = "How long an approval waits before it expires."
  type        = number
  default     = 86400

  validation {
    condition     = var.approval_timeout_seconds >= 60 && var.approval_timeout_seconds <= 604800
    error_message = "approval_timeout_seconds must be between 60 and 604800 (7 days)."
  }
}

variable "gate" {
  description = "Promotion gate policy, which a model project's mlops.toml may tighten but not loosen (checked by the build and again by Evaluate): metric (the one every project must use; \"*\": the project chooses metric and direction), direction (lower|higher, which way metric is better), tolerance (relative regression allowed when mlops.toml sets none) and max_tolerance (the most mlops.toml gate.tolerance may allow)."
  type = object({
    metric        = optional(string, "rmse")
    direction     = optional(string, "lower")
    tolerance     = optional(number, 0)
    max_tolerance = optional(number, 0)
  })
  default = {}

  validation {
    condition     = contains(["lower", "higher"], var.gate.direction)
    error_message = "gate.direction must be lower or higher."
  }

  validation {
    condition     = trimspace(var.gate.metric) != ""
    error_message = "gate.metric must be a metric name, or \"*\" to let each project choose its metric and direction."
  }

  validation {
    condition     = var.gate.tolerance >= 0 && var.gate.tolerance <= var.gate.max_tolerance
    error_message = "gate.tolerance must be between 0 and gate.max_tolerance (a project may tighten the gate, never loosen it)."
  }
}

variable "serving_max_rows" {
  description = "Bounds of a model project's mlops.toml serving.max_rows (rows per inference request), enforced by the build: floor (callers may rely on at least this many) and cap (also the value of a project that sets none)."
  type = object({
    floor = optional(number, 1)
    cap   = optional(number, 10000)
  })
  default = {}

  validation {
    condition     = floor(var.serving_max_rows.floor) == var.serving_max_rows.floor && floor(var.serving_max_rows.cap) == var.serving_max_rows.cap && var.serving_max_rows.floor >= 1 && var.serving_max_rows.floor <= var.serving_max_rows.cap
    error_message = "serving_max_rows.floor and .cap must be whole numbers with 1 <= floor <= cap."
  }
}

variable "smoke_max_latency_ms" {
  description = "The smoke test fails above this latency (ms), for models whose deploy_targets function sets no smoke_max_latency_ms of its own."
  type        = number
  default     = 3000
}

variable "rollout" {
  description = "How prod moves to a new version (deploy_prod's ROLLOUT_* settings, src/mlops_pipeline/domain/rollout.py): mode gradual (live's traffic moves through steps, increasing percentages ending at 100; each step bakes bake_seconds, then metrics_delay_seconds more for CloudWatch to catch up, and is judged on what the new version served: more than max_error_rate percent errors, more than max_throttles throttles, a p99 above max_p99_ms or above max_p99_ratio times the previous version's p99 rolls it back; \"off\" switches a p99 limit off) or all_at_once (100 % in one step, no bake). no_traffic decides a bake without requests: pass, fail, or extend (at most max_extensions more bakes, then it fails)."
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

  # The checks of RolloutPolicy (domain/rollout.py): a value deploy_prod would refuse fails here.
  validation {
    condition     = contains(["gradual", "all_at_once"], var.rollout.mode)
    error_message = "rollout.mode must be gradual or all_at_once."
  }

  validation {
    condition = (
      length(var.rollout.steps) > 0 && alltrue([for s in var.rollout.steps : s >= 1 && s <= 100 && floor(s) == s]) &&
      alltrue([for i in range(1, length(var.rollout.steps)) : var.rollout.steps[i] > var.rollout.steps[i - 1]]) &&
      try(var.rollout.steps[length(var.rollout.steps) - 1] == 100, false)
    )
    error_message = "rollout.steps must be increasing whole percentages in 1..100 ending at 100 (the new version takes all traffic), e.g. [10, 100]."
  }

  validation {
    condition = alltrue([for n in [var.rollout.bake_seconds, var.rollout.max_throttles, var.rollout.max_extensions, var.rollout.metrics_delay_seconds] :
      n >= 0 && floor(n) == n
    ])
    error_message = "rollout.bake_seconds, max_throttles, max_extensions and metrics_delay_seconds must be whole numbers, 0 or more."
  }

  validation {
    condition     = var.rollout.max_error_rate >= 0 && var.rollout.max_error_rate <= 100
    error_message = "rollout.max_error_rate must be a percentage 0..100."
  }

  validation {
    condition     = lower(trimspace(var.rollout.max_p99_ms)) == "off" || try(tonumber(var.rollout.max_p99_ms) > 0, false)
    error_message = "rollout.max_p99_ms must be a positive number of milliseconds or \"off\"."
  }

  validation {
    condition     = lower(trimspace(var.rollout.max_p99_ratio)) == "off" || try(tonumber(var.rollout.max_p99_ratio) >= 1, false)
    error_message = "rollout.max_p99_ratio must be 1 or more, or \"off\" (null takes the default 1.5)."
  }

  validation {
    condition     = contains(["pass", "extend", "fail"], var.rollout.no_traffic)
    error_message = "rollout.no_traffic must be pass, extend or fail."
  }
}

variable "mlflow_tracking_uri" {
  description = "MLflow tracking server URL (the mlflow module's url in AWS; the local server in local mode)."
  type        = string
}

variable "mlflow_credentials_secret_arn" {
  description = "Secrets Manager secret with the pipeline's MLflow user {username,password}; empty when MLflow authentication is off."
  type        = string
  default     = ""
}

variable "mlflow_credentials_kms_key_arn" {
  description = "KMS key that encrypts mlflow_credentials_secret_arn, when it is not this module's key (null: this module's key or AWS managed)."
  type        = string
  default     = null
}

variable "mlflow_ui_url" {
  description = "MLflow UI base URL used in links on Slack cards."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of every log group of the module."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of each pipeline Lambda (-1: unreserved)."
  type        = number
  default     = -1
}

variable "lambda_environment_overrides" {
  description = "Extra environment variables for every pipeline Lambda (local mode: emulator endpoints). Never secrets, never the security settings (set those through their own inputs)."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.lambda_environment_overrides), [
      "APPROVERS", "APPROVER_GROUP", "ALLOW_SELF_APPROVAL", "REQUIRED_APPROVALS", "IDENTITY_MAP", "IDENTITY_LOOKUP",
      "SIGNATURE_MAX_AGE_SECONDS", "SLACK_SECRET_ARN", "SLACK_SIGNING_SECRET_ARN", "DEPLOY_TARGETS", "DECLARED_MODELS",
      "GATE_METRIC", "GATE_DIRECTION", "GATE_TOLERANCE", "GATE_MAX_TOLERANCE",
      "GIT_HOST", "GIT_REPOSITORY", "GIT_BRANCH", "GIT_WEBHOOK_SECRET_ARN", "STATE_MACHINE_ARN", "WEBHOOK_MAX_AGE_SECONDS",
      "ROLLOUT_MODE", "ROLLOUT_STEPS", "ROLLOUT_BAKE_SECONDS", "ROLLOUT_MAX_ERROR_RATE", "ROLLOUT_MAX_THROTTLES", "ROLLOUT_MAX_P99_MS",
      "ROLLOUT_MAX_P99_RATIO", "ROLLOUT_NO_TRAFFIC", "ROLLOUT_MAX_EXTENSIONS", "ROLLOUT_METRICS_DELAY_SECONDS",
    ])) == 0
    error_message = "lambda_environment_overrides may not set the security settings APPROVERS, APPROVER_GROUP, ALLOW_SELF_APPROVAL, REQUIRED_APPROVALS, IDENTITY_MAP, IDENTITY_LOOKUP, SIGNATURE_MAX_AGE_SECONDS, SLACK_SECRET_ARN, SLACK_SIGNING_SECRET_ARN, DEPLOY_TARGETS, DECLARED_MODELS, the gate policy GATE_*, the webhook's GIT_*, STATE_MACHINE_ARN and WEBHOOK_MAX_AGE_SECONDS or the rollout policy ROLLOUT_* (an override would reach every function, and these decide who may approve, which requests are genuine, where a function deploys, which models may be built, what passes the gate, which pushes start a run and when a new prod version is rolled back; set the gate through var.gate, the rollout through var.rollout and the models through deploy_targets)."
  }
}

variable "codebuild" {
  description = "CodeBuild settings: compute type, image and type (null: the standard Amazon Linux image and container type of lambda_architecture), privileged mode (Docker; always on when serving_package_type is Image), timeout."
  type = object({
    compute_type    = optional(string, "BUILD_GENERAL1_SMALL")
    image           = optional(string)
    type            = optional(string)
    privileged_mode = optional(bool, false)
    timeout_minutes = optional(number, 60)
  })
  default = {}
}

variable "lambda_architecture" {
  description = "CPU architecture of every Lambda function (arm64 or x86_64): the pipeline's and the inference functions' (pass the same value to target_account), the wheels the build packages (ARCHITECTURE) and the CodeBuild machine."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "serving_package_type" {
  description = "What the inference functions run (target_account's package_type): Zip (default; the build uploads a zip to the artifacts bucket, no Docker) or Image (the build pushes to the serving repository, in privileged mode)."
  type        = string
  default     = "Zip"

  validation {
    condition     = contains(["Zip", "Image"], var.serving_package_type)
    error_message = "serving_package_type must be Zip or Image."
  }
}

variable "codebuild_environment" {
  description = "Extra plaintext environment variables of the build (local mode: the Python to run, the state dir). Never secrets, never the policy caps (set those through gate and serving_max_rows) or DECLARED_MODELS."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.codebuild_environment), [
      "GATE_METRIC", "GATE_DIRECTION", "GATE_TOLERANCE", "GATE_MAX_TOLERANCE", "SERVING_MAX_ROWS_FLOOR", "SERVING_MAX_ROWS_CAP", "DECLARED_MODELS",
    ])) == 0
    error_message = "codebuild_environment may not set the policy caps GATE_METRIC, GATE_DIRECTION, GATE_TOLERANCE, GATE_MAX_TOLERANCE, SERVING_MAX_ROWS_FLOOR or SERVING_MAX_ROWS_CAP (set them through gate and serving_max_rows, which Evaluate sees too) or DECLARED_MODELS (the models of deploy_targets)."
  }
}

variable "buildspec" {
  description = "Buildspec override of the trusted registration project (YAML). Null: the pipeline-owned buildspec.yml of this module."
  type        = string
  default     = null
}

variable "train_environment" {
  description = "Extra plain environment variables of the untrusted training project (e.g. where train.py finds its data). Never MLflow settings, the policy caps or DECLARED_MODELS."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.train_environment) : !startswith(k, "MLFLOW_") && !startswith(k, "GATE_") && !startswith(k, "SERVING_MAX_ROWS_") && k != "DECLARED_MODELS"])
    error_message = "train_environment may not set MLFLOW_* (the training step talks to no MLflow server), GATE_* or SERVING_MAX_ROWS_* (the policy caps) or DECLARED_MODELS (the models of deploy_targets)."
  }
}

variable "train_buildspec" {
  description = "Buildspec override of the untrusted training project (YAML). Null: the pipeline-owned buildspec_train.yml of this module."
  type        = string
  default     = null
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged serving images (failed pushes) expire; tagged images (<model>-<version>) never expire on their own."
  type        = number
  default     = 1

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && floor(var.untagged_image_expiry_days) == var.untagged_image_expiry_days
    error_message = "untagged_image_expiry_days must be a whole number of days, at least 1."
  }
}

variable "create_slack_api" {
  description = "Create the API Gateway HTTP API for Slack interactivity."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Protect the DynamoDB table against deletion (turn off for throwaway environments)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets and ECR repositories (throwaway environments only)."
  type        = bool
  default     = false
}

variable "state_machine_template_path" {
  description = "Path of the ASL template (null: statemachine/pipeline.asl.json of this repository)."
  type        = string
  default     = null
}
