# Security-relevant settings of the pipeline module, against a mocked AWS provider.
mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  lambda_packages = {
    core     = { path = "core.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
    registry = { path = "registry.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  }
  deploy_targets = {
    stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
  }
  image_consumer_account_ids    = ["222222222222", "333333333333"]
  slack_channel                 = "C0123456789"
  mlflow_tracking_uri           = "https://mlflow.example.com"
  mlflow_credentials_secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow/pipeline-AbCdEf"
}

run "data_at_rest_is_encrypted_and_private" {
  command = apply

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The KMS key must rotate."
  }

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.this.point_in_time_recovery[0].enabled
    error_message = "The table must be pay per request with point-in-time recovery."
  }

  assert {
    condition     = aws_dynamodb_table.this.server_side_encryption[0].enabled && aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == aws_kms_key.this.arn
    error_message = "The table must be encrypted with the customer-managed key."
  }

  assert {
    condition     = aws_dynamodb_table.this.ttl[0].enabled && aws_dynamodb_table.this.ttl[0].attribute_name == "ttl"
    error_message = "TTL must be on, on the attribute named ttl (docs/contracts.md)."
  }

  assert {
    condition     = aws_dynamodb_table.this.hash_key == "pk" && aws_dynamodb_table.this.range_key == "sk" && one([for g in aws_dynamodb_table.this.global_secondary_index : g if g.name == "gsi1" && g.hash_key == "gsi1pk" && g.range_key == "gsi1sk" && g.projection_type == "ALL"]) != null
    error_message = "Keys pk/sk and GSI gsi1 (gsi1pk/gsi1sk, ALL) as in docs/contracts.md."
  }

  # The bucket's own settings (private, versioned, SSE-KMS, TLS only) are asserted by the
  # s3_bucket module's tests; here: that this module hands it its own key.
  assert {
    condition     = module.artifacts_bucket.kms_key_arn == aws_kms_key.this.arn && output.artifacts_bucket == module.artifacts_bucket.id
    error_message = "The artifacts bucket must be encrypted with the customer-managed key."
  }

  assert {
    condition     = aws_secretsmanager_secret.slack.kms_key_id == aws_kms_key.this.arn && aws_secretsmanager_secret.slack_signing.kms_key_id == aws_kms_key.this.arn && aws_sns_topic.events.kms_master_key_id == aws_kms_key.this.arn
    error_message = "The Slack secrets and the SNS topic must use the customer-managed key."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.lambda : g.kms_key_id == aws_kms_key.this.arn && g.retention_in_days == 30])
    error_message = "Every Lambda log group is encrypted and has a retention."
  }
}

run "ecr_is_immutable_scanned_and_shared_only_with_targets" {
  command = apply

  assert {
    condition     = aws_ecr_repository.serving.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.serving.image_scanning_configuration[0].scan_on_push
    error_message = "Serving images: immutable tags and scan on push."
  }

  assert {
    condition = jsonencode(sort(flatten([for s in data.aws_iam_policy_document.ecr.statement : [for p in s.principals : tolist(p.identifiers) if p.type == "AWS"]]))) == jsonencode([
      "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root",
    ])
    error_message = "Only the stage and prod accounts may pull."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.ecr.statement :
      jsonencode(sort(s.actions)) == jsonencode(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
    ])
    error_message = "The repository policy grants pull actions only."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.ecr.statement :
      anytrue([for p in s.principals : p.type == "Service" && contains(p.identifiers, "lambda.amazonaws.com")]) &&
      anytrue([for c in s.condition : c.variable == "aws:SourceAccount"]) &&
      anytrue([for c in s.condition : c.variable == "aws:SourceArn"])
    ])
    error_message = "The Lambda service may pull only with aws:SourceAccount and aws:SourceArn conditions."
  }
}

run "functions_follow_the_contract" {
  command = apply

  assert {
    condition = alltrue([for k, f in aws_lambda_function.this :
      f.handler == "mlops_pipeline.handlers.${trimsuffix(trimsuffix(k, "_stage"), "_prod")}.handler" && f.runtime == "python3.12" && jsonencode(f.architectures) == jsonencode(["arm64"]) && f.tracing_config[0].mode == "Active"
    ])
    error_message = "Handlers are mlops_pipeline.handlers.<module>.handler on python3.12/arm64 with tracing (deploy_stage and deploy_prod run the deploy module)."
  }

  assert {
    condition = jsonencode(sort(keys(aws_lambda_function.this))) == jsonencode(sort([
      "report", "evaluate", "deploy_stage", "smoke_test_stage", "rollback_stage", "deploy_prod", "smoke_test_prod", "rollback_prod",
      "promote", "request_approval", "expire_approval", "slack_interactions", "notify",
    ]))
    error_message = "One function per handler module; deploy, smoke_test and rollback once per environment."
  }

  assert {
    condition = jsonencode(sort([for k, f in aws_lambda_function.this : k if f.filename == "registry.zip"])) == jsonencode(["evaluate", "promote", "rollback_prod"]) && alltrue([
      for k, f in aws_lambda_function.this : f.filename == "core.zip" if !contains(["evaluate", "promote", "rollback_prod"], k)
    ]) && aws_lambda_function.this["evaluate"].source_code_hash == var.lambda_packages.registry.base64sha256
    error_message = "evaluate, promote and rollback_prod (it moves the registry's alias back) run from registry.zip, the others (rollback_stage too) from core.zip."
  }

  assert {
    condition     = jsonencode(sort([for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), "DEPLOY_TARGETS")])) == jsonencode(["deploy_prod", "deploy_stage", "rollback_prod", "rollback_stage", "smoke_test_prod", "smoke_test_stage"])
    error_message = "Only the deploy, smoke test and rollback functions get DEPLOY_TARGETS."
  }

  assert {
    condition = alltrue(flatten([for e in ["stage", "prod"] : [for k in ["deploy_${e}", "rollback_${e}", "smoke_test_${e}"] :
      jsonencode(keys(jsondecode(aws_lambda_function.this[k].environment[0].variables.DEPLOY_TARGETS))) == jsonencode([e])
    ]]))
    error_message = "Each deploy, smoke test and rollback function knows its own environment's target only."
  }

  assert {
    condition = (
      jsondecode(aws_lambda_function.this["deploy_prod"].environment[0].variables.DEPLOY_TARGETS).prod.role_arn == "arn:aws:iam::333333333333:role/mlops-deploy" &&
      jsondecode(aws_lambda_function.this["rollback_stage"].environment[0].variables.DEPLOY_TARGETS).stage.role_arn == "arn:aws:iam::222222222222:role/mlops-deploy" &&
      jsondecode(aws_lambda_function.this["smoke_test_prod"].environment[0].variables.DEPLOY_TARGETS).prod.role_arn == "arn:aws:iam::333333333333:role/mlops-smoke-test"
    )
    error_message = "Deploy and rollback assume their target's deploy role, the smoke test its invoke role."
  }

  assert {
    condition     = jsonencode(sort([for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), "MLFLOW_CREDENTIALS_SECRET_ARN")])) == jsonencode(["evaluate", "promote", "request_approval", "rollback_prod"])
    error_message = "Only the MLflow users get the MLflow credentials secret ARN (rollback_prod: the rollback by hand; not rollback_stage)."
  }

  assert {
    condition = alltrue([for f in aws_lambda_function.this : alltrue([for name in keys(f.environment[0].variables) : contains([
      "MLOPS_TABLE", "MLFLOW_TRACKING_URI", "MLFLOW_CREDENTIALS_SECRET_ARN", "SLACK_SECRET_ARN", "SLACK_SIGNING_SECRET_ARN", "SLACK_CHANNEL", "SLACK_API_URL",
      "GATE_METRIC", "GATE_DIRECTION", "GATE_TOLERANCE", "GATE_MAX_TOLERANCE", "DEPLOY_TARGETS", "SMOKE_MAX_LATENCY_MS", "LOCK_TTL_SECONDS", "APPROVERS",
      "APPROVER_GROUP", "ALLOW_SELF_APPROVAL", "REQUIRED_APPROVALS", "IDENTITY_MAP", "IDENTITY_LOOKUP", "APPROVAL_TIMEOUT_SECONDS",
      "SIGNATURE_MAX_AGE_SECONDS", "MLFLOW_UI_URL", "POWERTOOLS_SERVICE_NAME", "DECLARED_MODELS", "PROD_ROLLBACK_FUNCTION",
      "ROLLOUT_MODE", "ROLLOUT_STEPS", "ROLLOUT_BAKE_SECONDS", "ROLLOUT_MAX_ERROR_RATE", "ROLLOUT_MAX_THROTTLES", "ROLLOUT_MAX_P99_MS",
      "ROLLOUT_MAX_P99_RATIO", "ROLLOUT_NO_TRAFFIC", "ROLLOUT_MAX_EXTENSIONS", "ROLLOUT_METRICS_DELAY_SECONDS",
    ], name)])])
    error_message = "Every environment variable is a documented setting (src/mlops_pipeline/config.py); secrets travel as ARNs only."
  }

  assert {
    condition     = jsondecode(aws_lambda_function.this["deploy_prod"].environment[0].variables.DEPLOY_TARGETS).prod.alias == "live"
    error_message = "DEPLOY_TARGETS is JSON with the alias defaulting to live."
  }
}

run "iam_is_least_privilege" {
  command = apply

  assert {
    condition     = alltrue(flatten([for k, d in data.aws_iam_policy_document.lambda : [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No Lambda policy may use a wildcard action."
  }

  assert {
    condition = alltrue(flatten([for d in [data.aws_iam_policy_document.states, data.aws_iam_policy_document.codebuild, data.aws_iam_policy_document.events, data.aws_iam_policy_document.kms] :
      [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]
    ]))
    error_message = "No state machine, CodeBuild, EventBridge or key policy may use a wildcard action."
  }

  assert {
    condition = jsonencode({ for k, d in data.aws_iam_policy_document.lambda : k => sort(flatten([for s in d.statement : s.resources if contains(s.actions, "sts:AssumeRole")])) if anytrue([for s in d.statement : contains(s.actions, "sts:AssumeRole")]) }) == jsonencode({
      deploy_prod      = ["arn:aws:iam::333333333333:role/mlops-deploy"]
      deploy_stage     = ["arn:aws:iam::222222222222:role/mlops-deploy"]
      rollback_prod    = ["arn:aws:iam::333333333333:role/mlops-deploy"]
      rollback_stage   = ["arn:aws:iam::222222222222:role/mlops-deploy"]
      smoke_test_prod  = ["arn:aws:iam::333333333333:role/mlops-smoke-test"]
      smoke_test_stage = ["arn:aws:iam::222222222222:role/mlops-smoke-test"]
    })
    error_message = "Each deploy/rollback function may assume its own environment's deploy role only, each smoke test its environment's invoke role only; no other function assumes anything."
  }

  assert {
    condition = jsonencode({ for k, d in data.aws_iam_policy_document.lambda : k => sort(flatten([for s in d.statement : [for a in s.actions : a if startswith(a, "states:")]])) if anytrue([for s in d.statement : anytrue([for a in s.actions : startswith(a, "states:")])]) }) == jsonencode({
      request_approval   = ["states:SendTaskFailure"]
      slack_interactions = ["states:SendTaskFailure", "states:SendTaskSuccess"]
    })
    error_message = "Only slack_interactions completes approval tasks (success or failure); request_approval may only fail the older approvals it supersedes."
  }

  assert {
    condition = alltrue(flatten([for k, d in data.aws_iam_policy_document.lambda : [for s in d.statement :
      jsonencode(s.resources) == jsonencode(["arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline"]) if anytrue([for a in s.actions : startswith(a, "states:")])
    ]]))
    error_message = "The approval callbacks are scoped to the pipeline's state machine."
  }

  assert {
    condition     = alltrue([for k, d in data.aws_iam_policy_document.lambda : alltrue([for s in d.statement : !contains(s.resources, "*") if !alltrue([for a in s.actions : startswith(a, "xray:")])])])
    error_message = "Only X-Ray statements may use the * resource in Lambda policies."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.states.statement :
      contains(s.resources, "arn:aws:events:us-east-1:111111111111:rule/StepFunctionsGetEventsForCodeBuildStartBuildRule") && contains(s.actions, "events:PutRule")
    ])
    error_message = "The state machine may manage only the managed rule of the .sync CodeBuild integration."
  }

  assert {
    condition     = jsonencode(one([for s in data.aws_iam_policy_document.events.statement : s.resources])) == jsonencode(["arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline"])
    error_message = "The trigger may start only the pipeline."
  }
}

run "workflow_observability" {
  command = apply

  assert {
    condition     = aws_sfn_state_machine.this.tracing_configuration[0].enabled
    error_message = "X-Ray tracing must be on."
  }

  assert {
    condition     = aws_sfn_state_machine.this.logging_configuration[0].level == "ALL" && !aws_sfn_state_machine.this.logging_configuration[0].include_execution_data
    error_message = "Logging at level ALL without execution data (task tokens)."
  }

  assert {
    condition     = length(regexall("\\$\\{[a-z_]+\\}", aws_sfn_state_machine.this.definition)) == 0 && jsondecode(aws_sfn_state_machine.this.definition).States.Build.Parameters.ProjectName == "mlops-build"
    error_message = "The ASL template must be fully rendered to valid JSON."
  }

  assert {
    condition     = jsonencode(jsondecode(aws_cloudwatch_event_rule.trigger[0].event_pattern).detail.referenceName) == jsonencode(["main"])
    error_message = "The trigger listens to the configured branch."
  }

  assert {
    condition     = aws_apigatewayv2_route.slack[0].route_key == "POST /slack/interactions"
    error_message = "Slack posts interactions to POST /slack/interactions."
  }

  assert {
    condition     = aws_codebuild_project.this.encryption_key == aws_kms_key.this.arn
    error_message = "CodeBuild artifacts/logs use the customer-managed key."
  }
}

run "external_repository" {
  command = apply

  variables {
    create_repository       = false
    external_repository_arn = "arn:aws:codecommit:us-east-1:111111111111:elsewhere"
    external_source         = { type = "GITHUB", location = "https://github.com/example/models.git" }
  }

  assert {
    condition     = length(aws_codecommit_repository.this) == 0 && jsonencode(jsondecode(aws_cloudwatch_event_rule.trigger[0].event_pattern).resources) == jsonencode(["arn:aws:codecommit:us-east-1:111111111111:elsewhere"])
    error_message = "With create_repository = false the trigger listens to the external repository."
  }

  assert {
    condition     = aws_codebuild_project.this.source[0].type == "GITHUB"
    error_message = "CodeBuild checks out the external source."
  }
}

run "rejects_missing_prod_target" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    }
  }

  expect_failures = [var.deploy_targets]
}

# Stage and prod must not share a deploy role: a stage bug could then change prod.
run "rejects_one_deploy_role_for_both_environments" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
      prod  = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    }
  }

  expect_failures = [var.deploy_targets]
}

run "rejects_a_smoke_test_that_assumes_the_deploy_role" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
      prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    }
  }

  expect_failures = [var.deploy_targets]
}

# Overrides reach every function: they may carry endpoints, never the security settings.
run "rejects_security_settings_in_environment_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { AWS_ENDPOINT_URL = "http://127.0.0.1:4566", APPROVERS = "U0ATTACKER" }
  }

  expect_failures = [var.lambda_environment_overrides]
}

run "rejects_a_deploy_targets_override" {
  command = plan

  variables {
    lambda_environment_overrides = { DEPLOY_TARGETS = "{}" }
  }

  expect_failures = [var.lambda_environment_overrides]
}

run "accepts_endpoint_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { AWS_ENDPOINT_URL = "http://127.0.0.1:4566" }
  }

  assert {
    condition     = aws_lambda_function.this["report"].environment[0].variables.AWS_ENDPOINT_URL == "http://127.0.0.1:4566"
    error_message = "Other overrides still reach the functions."
  }
}

# The approval settings reach exactly the functions that read them (src/mlops_pipeline/config.py
# used_by): request_approval resolves the author and records the quorum, slack_interactions counts it.
run "approval_settings_reach_their_readers" {
  command = apply

  variables {
    required_approvals = 2
    identity_map = {
      "arn:aws:iam::111111111111:user/dana" = "U0AUTHOR"
      "MlopsDeveloper/alice"                = "U0ALICE"
      "github:Octocat"                      = "W0OCTOCAT"
    }
    identity_lookup = "identity_center_email"
  }

  assert {
    condition = jsonencode(jsondecode(aws_lambda_function.this["request_approval"].environment[0].variables.IDENTITY_MAP)) == jsonencode({
      "arn:aws:iam::111111111111:user/dana" = "U0AUTHOR"
      "MlopsDeveloper/alice"                = "U0ALICE"
      "github:Octocat"                      = "W0OCTOCAT"
    })
    error_message = "request_approval gets identity_map as the JSON object IDENTITY_MAP."
  }

  assert {
    condition = (
      aws_lambda_function.this["request_approval"].environment[0].variables.IDENTITY_LOOKUP == "identity_center_email" &&
      aws_lambda_function.this["request_approval"].environment[0].variables.REQUIRED_APPROVALS == "2" &&
      aws_lambda_function.this["slack_interactions"].environment[0].variables.REQUIRED_APPROVALS == "2"
    )
    error_message = "request_approval gets IDENTITY_LOOKUP and REQUIRED_APPROVALS, slack_interactions REQUIRED_APPROVALS."
  }

  assert {
    condition = jsonencode({ for s in ["REQUIRED_APPROVALS", "IDENTITY_MAP", "IDENTITY_LOOKUP"] : s => sort([for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), s)]) }) == jsonencode({
      REQUIRED_APPROVALS = ["request_approval", "rollback_prod", "slack_interactions"]
      IDENTITY_MAP       = ["request_approval", "rollback_prod"]
      IDENTITY_LOOKUP    = ["request_approval", "rollback_prod"]
    })
    error_message = "Only the functions that read an approval setting get it (rollback_prod maps a terminal caller to an approver)."
  }
}

run "approval_settings_default_to_one_approval_and_no_lookup" {
  command = apply

  assert {
    condition = (
      aws_lambda_function.this["request_approval"].environment[0].variables.IDENTITY_MAP == "{}" &&
      aws_lambda_function.this["request_approval"].environment[0].variables.IDENTITY_LOOKUP == "none" &&
      aws_lambda_function.this["request_approval"].environment[0].variables.REQUIRED_APPROVALS == "1" &&
      aws_lambda_function.this["slack_interactions"].environment[0].variables.REQUIRED_APPROVALS == "1"
    )
    error_message = "By default: an empty identity map, no lookup, one approval (the defaults of config.py)."
  }
}

run "rejects_an_unknown_identity_lookup" {
  command = plan

  variables {
    identity_lookup = "git_author_email"
  }

  expect_failures = [var.identity_lookup]
}

run "rejects_zero_required_approvals" {
  command = plan

  variables {
    required_approvals = 0
  }

  expect_failures = [var.required_approvals]
}

run "rejects_more_than_five_required_approvals" {
  command = plan

  variables {
    required_approvals = 6
  }

  expect_failures = [var.required_approvals]
}

run "rejects_an_identity_map_value_that_is_not_a_slack_user" {
  command = plan

  variables {
    identity_map = { "arn:aws:iam::111111111111:user/dana" = "dana@example.com" }
  }

  expect_failures = [var.identity_map]
}

# A role ARN names every session of the role: it would resolve nobody (and mislead the reader).
run "rejects_a_role_arn_in_the_identity_map" {
  command = plan

  variables {
    identity_map = { "arn:aws:iam::111111111111:role/MlopsDeveloper" = "U0AUTHOR" }
  }

  expect_failures = [var.identity_map]
}

run "rejects_approval_settings_in_environment_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { REQUIRED_APPROVALS = "1", IDENTITY_MAP = "{\"arn:aws:iam::111111111111:user/mallory\":\"U0APPROVER\"}" }
  }

  expect_failures = [var.lambda_environment_overrides]
}

# A deployment from before the s3_bucket module: its bucket must survive the move
# (moved blocks in storage.tf), not be destroyed and created anew.
run "inline_bucket_of_an_earlier_deployment" {
  state_key = "moved"

  module {
    source = "../s3_bucket/tests/inline_layout"
  }

  variables {
    bucket_prefix = "mlops-artifacts-"
    kms_key_arn   = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  }

  override_resource {
    target = aws_s3_bucket.artifacts
    values = { id = "mlops-artifacts-existing", arn = "arn:aws:s3:::mlops-artifacts-existing" }
  }
}

run "moved_blocks_keep_the_existing_bucket" {
  state_key = "moved"

  assert {
    condition     = module.artifacts_bucket.id == run.inline_bucket_of_an_earlier_deployment.bucket_id && module.artifacts_bucket.arn == "arn:aws:s3:::mlops-artifacts-existing"
    error_message = "The existing bucket must move into module.artifacts_bucket (moved blocks), not be replaced."
  }
}

# The serving artifact: a zip by default, built without Docker; the deploy roles (and only
# they) read the zips under serving/ and decrypt them through S3.
run "zip_artifacts_without_docker" {
  command = apply

  assert {
    condition     = !aws_codebuild_project.this.environment[0].privileged_mode
    error_message = "The zip path needs no Docker: no privileged mode by default."
  }

  assert {
    condition = alltrue([for k, v in { ARCHITECTURE = "arm64", SERVING_PACKAGE_TYPE = "Zip", SERVING_KEY_PREFIX = "serving/", ARTIFACTS_BUCKET = "mlops-artifacts-mock" } :
    contains([for e in aws_codebuild_project.this.environment[0].environment_variable : "${e.name}=${e.value}"], "${k}=${v}")])
    error_message = "The build gets the architecture, the package type and where the zips go."
  }

  assert {
    condition = (
      jsonencode(one([for s in data.aws_iam_policy_document.codebuild.statement : s.resources if s.sid == "PublishServingZips"])) == jsonencode(["arn:aws:s3:::mlops-artifacts-mock/serving/*"]) &&
      !anytrue([for s in data.aws_iam_policy_document.codebuild.statement : anytrue([for a in s.actions : startswith(a, "ecr:")])])
    )
    error_message = "The build may write serving zips and, without images, has no ECR permission at all."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.serving_read.statement : {
      actions = sort(s.actions), resources = s.resources, principals = flatten([for p in s.principals : p.identifiers])
      }]) == jsonencode([{
      actions    = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["arn:aws:s3:::mlops-artifacts-mock/serving/*"],
      principals = ["arn:aws:iam::222222222222:role/mlops-deploy", "arn:aws:iam::333333333333:role/mlops-deploy"]
    }])
    error_message = "The bucket policy lets exactly the two deploy roles read the serving zips."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.kms.statement :
      s.sid == "DeployRolesDecryptServingZips" && jsonencode(s.actions) == jsonencode(["kms:Decrypt"]) &&
      jsonencode(flatten([for p in s.principals : p.identifiers])) == jsonencode(["arn:aws:iam::222222222222:role/mlops-deploy", "arn:aws:iam::333333333333:role/mlops-deploy"]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && jsonencode(c.values) == jsonencode(["s3.us-east-1.amazonaws.com"])])
    ])
    error_message = "The key policy lets exactly the two deploy roles decrypt, through S3 only."
  }

  assert {
    condition     = alltrue([for r in jsondecode(aws_ecr_lifecycle_policy.serving.policy).rules : r.selection.tagStatus == "untagged"])
    error_message = "Only untagged images may expire: a tagged image may be what a live alias or its rollback target runs."
  }
}

# One setting drives the architecture: the functions, the build's ARCHITECTURE and its machine.
run "one_setting_drives_the_architecture" {
  command = apply

  variables {
    lambda_architecture = "x86_64"
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : jsonencode(f.architectures) == jsonencode(["x86_64"])])
    error_message = "Every pipeline function runs on lambda_architecture."
  }

  assert {
    condition = (
      aws_codebuild_project.this.environment[0].type == "LINUX_CONTAINER" && strcontains(aws_codebuild_project.this.environment[0].image, "x86_64") &&
      contains([for e in aws_codebuild_project.this.environment[0].environment_variable : "${e.name}=${e.value}"], "ARCHITECTURE=x86_64")
    )
    error_message = "The build machine and the build's ARCHITECTURE follow lambda_architecture."
  }
}

run "image_option_runs_docker" {
  command = apply

  variables {
    serving_package_type = "Image"
  }

  assert {
    condition     = aws_codebuild_project.this.environment[0].privileged_mode && aws_codebuild_project.this.environment[0].type == "ARM_CONTAINER" && strcontains(aws_codebuild_project.this.environment[0].image, "aarch64")
    error_message = "Images are built with Docker (privileged mode) on the functions' architecture."
  }

  assert {
    condition     = jsonencode(sort([for s in data.aws_iam_policy_document.codebuild.statement : s.sid if anytrue([for a in s.actions : startswith(a, "ecr:")])])) == jsonencode(["EcrLogin", "PushServingImages"])
    error_message = "The image option adds the ECR login and push."
  }
}

run "rejects_a_build_machine_of_another_architecture" {
  command = plan

  variables {
    codebuild = { type = "LINUX_CONTAINER", image = "aws/codebuild/amazonlinux-x86_64-standard:5.0" }
  }

  expect_failures = [aws_codebuild_project.this]
}

run "rejects_an_unknown_architecture" {
  command = plan

  variables {
    lambda_architecture = "aarch64"
  }

  expect_failures = [var.lambda_architecture]
}

# The policy caps over a model project's mlops.toml reach the build (all of them) and Evaluate
# (the gate), which both refuse a loosened gate; no override may replace them.
run "policy_caps_reach_the_build_and_evaluate" {
  command = apply

  variables {
    gate             = { metric = "r2", direction = "higher", tolerance = 0.01, max_tolerance = 0.03 }
    serving_max_rows = { floor = 5, cap = 500 }
  }

  assert {
    condition = alltrue([for k, v in { GATE_METRIC = "r2", GATE_DIRECTION = "higher", GATE_TOLERANCE = "0.01", GATE_MAX_TOLERANCE = "0.03", SERVING_MAX_ROWS_FLOOR = "5", SERVING_MAX_ROWS_CAP = "500" } :
    contains([for e in aws_codebuild_project.this.environment[0].environment_variable : "${e.name}=${e.value}"], "${k}=${v}")])
    error_message = "The build gets every policy cap."
  }

  assert {
    condition = alltrue([for k, v in { GATE_METRIC = "r2", GATE_DIRECTION = "higher", GATE_TOLERANCE = "0.01", GATE_MAX_TOLERANCE = "0.03" } :
    aws_lambda_function.this["evaluate"].environment[0].variables[k] == v])
    error_message = "Evaluate gets the gate policy."
  }
}

run "rejects_a_default_tolerance_above_the_cap" {
  command = plan

  variables {
    gate = { tolerance = 0.05, max_tolerance = 0.01 }
  }

  expect_failures = [var.gate]
}

run "rejects_max_rows_floor_above_the_cap" {
  command = plan

  variables {
    serving_max_rows = { floor = 100, cap = 10 }
  }

  expect_failures = [var.serving_max_rows]
}

run "rejects_policy_caps_in_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { GATE_MAX_TOLERANCE = "1" }
    codebuild_environment        = { SERVING_MAX_ROWS_CAP = "1000000" }
  }

  expect_failures = [var.lambda_environment_overrides, var.codebuild_environment]
}
