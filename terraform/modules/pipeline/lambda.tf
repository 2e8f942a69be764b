locals {
  mlflow_env = {
    MLFLOW_TRACKING_URI           = var.mlflow_tracking_uri
    MLFLOW_CREDENTIALS_SECRET_ARN = var.mlflow_credentials_secret_arn
  }

  environments = ["stage", "prod"]

  # The declared models: the keys of deploy_targets' functions (the same in every environment,
  # a validation checks). The build, the training step and Evaluate refuse any other model.
  declared_models = sort(keys(var.deploy_targets["stage"].functions))

  # DEPLOY_TARGETS of one environment only (a stage function never learns prod's roles). The
  # deploy and rollback functions assume the target's deploy role, the smoke tests its invoke role.
  target_functions = {
    for env in local.environments : env => {
      for model, f in var.deploy_targets[env].functions : model => { function_name = f.function_name, smoke_max_latency_ms = f.smoke_max_latency_ms }
    }
  }
  deploy_targets_json = {
    for env in local.environments : env => jsonencode({
      (env) = { role_arn = var.deploy_targets[env].role_arn, alias = var.deploy_targets[env].alias, external_id = var.deploy_targets[env].external_id, functions = local.target_functions[env] }
    })
  }
  smoke_targets_json = {
    for env in local.environments : env => jsonencode({
      (env) = { role_arn = var.deploy_targets[env].invoke_role_arn, alias = var.deploy_targets[env].alias, external_id = var.deploy_targets[env].external_id, functions = local.target_functions[env] }
    })
  }

  # The table items of deployments, one per environment and declared model: exact partition keys
  # (no wildcard: a function reaches the locks and state of the declared models only).
  lock_keys           = { for e in local.environments : e => [for m in local.declared_models : "LOCK#deploy-${e}-${m}"] }
  state_keys          = { for e in local.environments : e => [for m in local.declared_models : "ENV#${e}#${m}"] }
  declared_models_env = { DECLARED_MODELS = join(",", local.declared_models) }

  # Settings every function reads (src/mlops_pipeline/config.py: used_by "all").
  common_env = {
    MLOPS_TABLE = aws_dynamodb_table.this.name
    # Every step reports into the run's Slack thread (and links MLflow from its header).
    SLACK_CHANNEL           = var.slack_channel
    MLFLOW_UI_URL           = var.mlflow_ui_url
    POWERTOOLS_SERVICE_NAME = "mlops-pipeline"
  }
  # The gate policy (src/mlops_pipeline/model_build/policy.py): the build enforces it on the model
  # project's mlops.toml, Evaluate again on the version's gate tags.
  gate_env = {
    GATE_METRIC        = var.gate.metric
    GATE_DIRECTION     = var.gate.direction
    GATE_TOLERANCE     = tostring(var.gate.tolerance)
    GATE_MAX_TOLERANCE = tostring(var.gate.max_tolerance)
  }
  # Who may decide (slack_interactions, and rollback_prod for a rollback by hand) and how an
  # identity maps to a Slack user (request_approval, rollback_prod): rendered once for each.
  approver_env = {
    APPROVERS          = join(",", var.approvers)
    APPROVER_GROUP     = var.approver_group
    REQUIRED_APPROVALS = tostring(var.required_approvals)
  }
  identity_env = {
    IDENTITY_MAP    = jsonencode(var.identity_map)
    IDENTITY_LOOKUP = var.identity_lookup
  }
  # The gradual rollout in prod (deploy_prod only; src/mlops_pipeline/domain/rollout.py). A p99
  # limit set to "off" is switched off.
  rollout_env = {
    ROLLOUT_MODE                  = var.rollout.mode
    ROLLOUT_STEPS                 = join(",", [for s in var.rollout.steps : tostring(s)])
    ROLLOUT_BAKE_SECONDS          = tostring(var.rollout.bake_seconds)
    ROLLOUT_MAX_ERROR_RATE        = tostring(var.rollout.max_error_rate)
    ROLLOUT_MAX_THROTTLES         = tostring(var.rollout.max_throttles)
    ROLLOUT_MAX_P99_MS            = lower(trimspace(var.rollout.max_p99_ms)) == "off" ? "off" : trimspace(var.rollout.max_p99_ms)
    ROLLOUT_MAX_P99_RATIO         = lower(trimspace(var.rollout.max_p99_ratio)) == "off" ? "off" : trimspace(var.rollout.max_p99_ratio)
    ROLLOUT_NO_TRAFFIC            = var.rollout.no_traffic
    ROLLOUT_MAX_EXTENSIONS        = tostring(var.rollout.max_extensions)
    ROLLOUT_METRICS_DELAY_SECONDS = tostring(var.rollout.metrics_delay_seconds)
  }

  # The deployment lock's lease: 900 s, and in prod at least the longest stretch between two
  # traffic shifts (each shift renews it): a bake plus the metrics delay, once per bake the
  # no-traffic rule may add, plus 5 minutes for the checks themselves. Otherwise a long or
  # extended bake would let the lease lapse and another run take prod's lock mid-rollout.
  prod_lock_ttl_seconds = var.rollout.mode == "gradual" ? max(900, (var.rollout.bake_seconds + var.rollout.metrics_delay_seconds) * (var.rollout.max_extensions + 1) + 300) : 900

  # The prod rollback function, which a claimed "Roll back prod" click starts (docs/rollback.md).
  # Its ARN is built from the name (as aws_lambda_function.this names it), not read from the
  # resource: slack_interactions' policy may then name it without a dependency cycle.
  prod_rollback_function_name = "${var.name_prefix}-rollback-prod"
  prod_rollback_function_arn  = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prod_rollback_function_name}"
  # The rollback offers a successful run leaves (ROLLBACK#<execution>): report writes them, the
  # Slack click claims them, the prod rollback settles them.
  table_rollback_offers_key = ["ROLLBACK#*"]

  # Functions with the "slack" feature post to Slack: the bot token, never the signing secret.
  slack_env = {
    SLACK_SECRET_ARN = aws_secretsmanager_secret.slack.arn
    SLACK_API_URL    = var.slack_api_url
  }

  # What a function may do in the table, by partition key (the dynamodb:LeadingKeys condition;
  # key layout: src/mlops_pipeline/adapters/aws/dynamodb/schema.py). No Scan, no batch calls.
  # `index` statements query gsi1, whose partition key (gsi1pk) the condition then names.
  table_runs      = { sid = "RunRecords", index = false, keys = ["RUN#*"], actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] }
  table_by_model  = { sid = "PendingApprovalsOfModel", index = true, keys = ["APPROVALS#*"], actions = ["dynamodb:Query"] }
  table_approvals = { sid = "Approvals", index = false, keys = ["APPROVAL#*"], actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] }
  table_decisions = { sid = "Approvals", index = false, keys = ["APPROVAL#*"], actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"] }

  # Each function: handler module, package, size, settings, features (slack, slack_signing,
  # mlflow), the roles it may assume, the Step Functions callbacks it may send and its table access.
  shared_functions = merge({
    report = {
      handler        = "report"
      package        = "core"
      timeout        = 30
      memory         = 256
      features       = ["slack"]
      assume         = []
      task_callbacks = []
      # A successful run leaves a rollback offer: it reads the run's approvals (the champion it
      # replaced) and prod's deployed state (does prod still run this run?).
      table = [
        local.table_runs, local.table_by_model,
        { sid = "DeployedStateProd", index = false, keys = local.state_keys["prod"], actions = ["dynamodb:GetItem"] },
        { sid = "RollbackOffers", index = false, keys = local.table_rollback_offers_key, actions = ["dynamodb:GetItem", "dynamodb:PutItem"] },
      ]
      env = {}
    }
    evaluate = {
      handler        = "evaluate"
      package        = "registry"
      timeout        = 120
      memory         = 1024
      features       = ["slack", "mlflow"]
      assume         = []
      task_callbacks = []
      table          = [local.table_runs]
      # Refuses a version whose gate tags loosen the policy (the build wrote them), and a model
      # this deployment has no inference functions for.
      env = merge(local.mlflow_env, local.gate_env, local.declared_models_env)
    }
    promote = {
      handler        = "promote"
      package        = "registry"
      timeout        = 120
      memory         = 1024
      features       = ["slack", "mlflow"]
      assume         = []
      task_callbacks = []
      # Records what each environment runs now and frees that environment's deployment lock.
      table = [
        local.table_runs,
        { sid = "DeployedState", index = false, keys = flatten(values(local.state_keys)), actions = ["dynamodb:PutItem"] },
        { sid = "DeploymentLocks", index = false, keys = flatten(values(local.lock_keys)), actions = ["dynamodb:DeleteItem"] },
      ]
      env = local.mlflow_env
    }
    request_approval = {
      handler  = "request_approval"
      package  = "core"
      timeout  = 30
      memory   = 256
      features = ["slack", "mlflow"]
      assume   = []
      # Supersedes the model's older pending approvals (their tasks fail with ApprovalSuperseded).
      task_callbacks = ["states:SendTaskFailure"]
      table          = [local.table_runs, local.table_approvals, local.table_by_model]
      # Resolves the author (the trigger's principal) and records how many approvals decide.
      env = merge(local.mlflow_env, local.identity_env, {
        APPROVAL_TIMEOUT_SECONDS = tostring(var.approval_timeout_seconds)
        REQUIRED_APPROVALS       = local.approver_env.REQUIRED_APPROVALS
      })
    }
    expire_approval = {
      handler        = "expire_approval"
      package        = "core"
      timeout        = 30
      memory         = 256
      features       = ["slack"]
      assume         = []
      task_callbacks = []
      table          = [local.table_decisions, local.table_by_model]
      env            = {}
    }
    slack_interactions = {
      handler = "slack_interactions"
      package = "core"
      timeout = 15
      # Slack drops a click not answered within 3 s. Lambda gives CPU in proportion to memory
      # (one vCPU at 1,769 MB): at 256 MB a cold start's imports take several times longer than
      # on the emulator's measurement (benchmarks/interactions.py). Idle costs nothing either way.
      memory         = 1769
      features       = ["slack", "slack_signing"]
      assume         = []
      task_callbacks = ["states:SendTaskFailure", "states:SendTaskSuccess"]
      # A "Roll back prod" click: checks prod still runs the run, claims the offer (one
      # conditional update) and starts the prod rollback function, that one only.
      table = [
        local.table_runs, local.table_decisions,
        { sid = "RollbackOffers", index = false, keys = local.table_rollback_offers_key, actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
        { sid = "DeployedStateProd", index = false, keys = local.state_keys["prod"], actions = ["dynamodb:GetItem"] },
      ]
      invoke = [local.prod_rollback_function_arn]
      env = merge(local.approver_env, {
        PROD_ROLLBACK_FUNCTION    = local.prod_rollback_function_name
        ALLOW_SELF_APPROVAL       = tostring(var.allow_self_approval)
        SIGNATURE_MAX_AGE_SECONDS = "300"
        SLACK_SIGNING_SECRET_ARN  = aws_secretsmanager_secret.slack_signing.arn
      })
    }
    notify = {
      handler        = "notify"
      package        = "core"
      timeout        = 30
      memory         = 256
      features       = ["slack"]
      assume         = []
      task_callbacks = []
      # A run that ended ends its pending approvals (no callback: nothing waits for them) and
      # frees the deployment locks it still holds (a delete conditional on the owner). A final
      # success it posts late (Slack was down) carries the run's open rollback offer's button.
      table = [
        local.table_runs, local.table_decisions, local.table_by_model,
        { sid = "DeploymentLocks", index = false, keys = flatten(values(local.lock_keys)), actions = ["dynamodb:DeleteItem"] },
        { sid = "RollbackOffers", index = false, keys = local.table_rollback_offers_key, actions = ["dynamodb:GetItem"] },
      ]
      env = {}
    }
  }, local.webhook_functions)

  # A GitHub or GitLab source: the push webhook verifies the host's signature, claims the push
  # in the table (one WEBHOOK#<push> record, conditional put) and starts the state machine.
  webhook_enabled = var.git_source != "codecommit"
  webhook_functions = local.webhook_enabled ? {
    git_webhook = {
      handler        = "git_webhook"
      package        = "core"
      timeout        = 15
      memory         = 512
      features       = ["git_webhook"]
      assume         = []
      task_callbacks = []
      table          = [{ sid = "WebhookDeliveries", index = false, keys = ["WEBHOOK#*"], actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] }]
      env = {
        GIT_HOST               = var.git_source
        GIT_REPOSITORY         = var.git_repository
        GIT_BRANCH             = var.branch
        GIT_WEBHOOK_SECRET_ARN = one(aws_secretsmanager_secret.git_webhook[*].arn)
        STATE_MACHINE_ARN      = local.state_machine_arn
      }
    }
  } : {}

  # Deploy, smoke test and rollback: one function per environment (same code, own role each),
  # so a stage function can reach only stage's target role, locks and state, never prod's. Each
  # serves every declared model (a lock and a deployed state per model).
  environment_functions = merge([for e in local.environments : {
    "deploy_${e}" = {
      handler        = "deploy"
      package        = "core"
      timeout        = 600
      memory         = 256
      features       = ["slack"]
      assume         = [var.deploy_targets[e].role_arn]
      task_callbacks = []
      table = concat(
        [
          local.table_runs,
          # The lock and, beside it, the deploy's intent (written before live moves).
          { sid = "DeploymentLock", index = false, keys = local.lock_keys[e], actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"] },
          { sid = "DeployedState", index = false, keys = local.state_keys[e], actions = ["dynamodb:GetItem"] },
        ],
        # DeployProd reads the approval record itself before it touches prod.
        e == "prod" ? [{ sid = "Approvals", index = false, keys = ["APPROVAL#*"], actions = ["dynamodb:GetItem"] }] : [],
      )
      # deploy_prod also runs the gradual rollout's steps (rollout_steps): the rollout policy.
      env = merge({ DEPLOY_TARGETS = local.deploy_targets_json[e], LOCK_TTL_SECONDS = e == "prod" ? tostring(local.prod_lock_ttl_seconds) : "900" }, e == "prod" ? local.rollout_env : {})
    }
    "smoke_test_${e}" = {
      handler        = "smoke_test"
      package        = "core"
      timeout        = 120
      memory         = 256
      features       = ["slack"]
      assume         = [var.deploy_targets[e].invoke_role_arn]
      task_callbacks = []
      table          = [local.table_runs]
      env            = { DEPLOY_TARGETS = local.smoke_targets_json[e], SMOKE_MAX_LATENCY_MS = tostring(var.smoke_max_latency_ms) }
    }
    "rollback_${e}" = {
      handler = "rollback"
      # rollback_prod also rolls prod back by hand (mode manual, docs/rollback.md): it moves the
      # registry's alias production back, so it talks to MLflow (registry.zip: mlflow-skinny).
      package        = e == "prod" ? "registry" : "core"
      timeout        = 300
      memory         = e == "prod" ? 1024 : 256
      features       = e == "prod" ? ["slack", "mlflow"] : ["slack"]
      assume         = [var.deploy_targets[e].role_arn]
      task_callbacks = []
      # Frees the lock; after a failed deploy (mode recover) also reads the deploy's intent beside
      # it and takes the lock while it moves live back (same partition, this environment only).
      # By hand (prod): checks and records the deployed state and settles the offer it acts on.
      table = concat(
        [
          local.table_runs,
          { sid = "DeploymentLock", index = false, keys = local.lock_keys[e], actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"] },
        ],
        e == "prod" ? [{ sid = "DeployedState", index = false, keys = local.state_keys[e], actions = ["dynamodb:GetItem", "dynamodb:PutItem"] }] : [],
        e == "prod" ? [{ sid = "RollbackOffers", index = false, keys = local.table_rollback_offers_key, actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] }] : [],
      )
      # By hand it obeys the approver rules (a terminal caller's STS identity mapped through
      # IDENTITY_MAP). The caller's identity proof goes to STS as a signed request of the
      # caller's: no IAM permission of this role is involved.
      env = merge(
        { DEPLOY_TARGETS = local.deploy_targets_json[e] },
        e == "prod" ? merge(local.mlflow_env, local.approver_env, local.identity_env, { LOCK_TTL_SECONDS = "900" }) : {},
      )
    }
  }]...)

  functions = merge(local.shared_functions, local.environment_functions)

  # Static keys: roles and log groups must not depend on deploy_targets (the target
  # accounts' deploy roles trust these roles, and deploy_targets come from those accounts).
  # git_webhook only with a GitHub or GitLab source (functions.WEBHOOK_ONLY).
  function_keys = setsubtract(toset([
    "report", "evaluate", "deploy_stage", "smoke_test_stage", "rollback_stage", "promote", "request_approval",
    "deploy_prod", "smoke_test_prod", "rollback_prod", "expire_approval", "slack_interactions", "notify",
    "git_webhook",
  ]), local.webhook_enabled ? [] : ["git_webhook"])

  asl_functions = [
    "report", "evaluate", "deploy_stage", "smoke_test_stage", "rollback_stage", "promote", "request_approval",
    "expire_approval", "deploy_prod", "smoke_test_prod", "rollback_prod",
  ]
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.function_keys

  name              = "/aws/lambda/${var.name_prefix}-${replace(each.value, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low; raise it where policy asks for a year.
  tags = var.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions/API Gateway (errors go back to the caller); notify's SNS retries are enough for chat messages.
  #checkov:skip=CKV_AWS_117:No VPC on purpose: the functions call Slack, MLflow's HTTPS front door and AWS APIs; a VPC would need a NAT gateway (cost, R-5).
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles per account; the packages are reproducible and their hashes pinned in state.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (lambda_reserved_concurrency); reserving by default would eat the account's unreserved pool.

  function_name                  = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description                    = "mlops-pipeline ${each.key}"
  role                           = aws_iam_role.lambda[each.key].arn
  handler                        = "mlops_pipeline.handlers.${each.value.handler}.handler"
  runtime                        = "python3.12"
  architectures                  = [var.lambda_architecture]
  filename                       = var.lambda_packages[each.value.package].path
  source_code_hash               = var.lambda_packages[each.value.package].base64sha256
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory
  kms_key_arn                    = aws_kms_key.this.arn
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  environment {
    variables = local.function_env[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  lifecycle {
    # Lambda refuses more than 4 KB of environment (keys and values, counted in bytes), at apply;
    # DEPLOY_TARGETS grows with every declared model: say so at plan.
    precondition {
      condition     = length(join("", [for k, v in local.function_env[each.key] : "${k}${v}"])) <= 4096
      error_message = "The environment of ${each.key} exceeds Lambda's 4 KB limit (DEPLOY_TARGETS grows with every model in var.deploy_targets' functions): split the models across two pipelines (name_prefix) or shorten function names."
    }
  }

  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

locals {
  function_env = {
    for k, f in local.functions : k => merge(local.common_env, contains(f.features, "slack") ? local.slack_env : {}, f.env, var.lambda_environment_overrides)
  }
}
