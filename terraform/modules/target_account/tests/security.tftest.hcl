# Security-relevant settings of a target account, against a mocked AWS provider.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "222222222222" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::222222222222:role/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:222222222222:log-group:mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:222222222222:function:mock", version = "1" }
  }
}

variables {
  environment = "stage"
  # Two models: one on the defaults, one with settings of its own.
  models = {
    "delivery-time" = {}
    "churn_v2.1"    = { memory_size = 2048, timeout = 60, reserved_concurrency = 5, smoke_max_latency_ms = 500 }
  }
  placeholder_zip       = { path = "placeholder.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  artifacts_bucket_arn  = "arn:aws:s3:::mlops-artifacts-abc"
  artifacts_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  image_repository_arn  = "arn:aws:ecr:us-east-1:111111111111:repository/mlops/serving"
  deployer_role_arns = [
    "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda",
    "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda",
  ]
  smoke_test_role_arns = ["arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda"]
}

run "deploy_role_is_least_privilege" {
  command = apply

  assert {
    condition     = jsonencode(sort(flatten([for s in data.aws_iam_policy_document.deploy_assume.statement : [for p in s.principals : tolist(p.identifiers) if p.type == "AWS"]]))) == jsonencode(sort(var.deployer_role_arns))
    error_message = "Only this environment's tooling deploy and rollback roles may assume the deploy role."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.deploy_assume.statement : jsonencode(s.actions) == jsonencode(["sts:AssumeRole"])])
    error_message = "The trust policy allows sts:AssumeRole only."
  }

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.deploy.statement : s.actions if s.sid == "DeployInferenceFunction"]))) == jsonencode(sort([
      "lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
      "lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:ListVersionsByFunction",
    ]))
    error_message = "The deploy role may only make the deployer's Lambda calls (the smoke test invokes through the invoke role)."
  }

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "DeployInferenceFunction"]))) == jsonencode([
      "arn:aws:lambda:us-east-1:222222222222:function:mlops-churn-v2-1", "arn:aws:lambda:us-east-1:222222222222:function:mlops-churn-v2-1:*",
      "arn:aws:lambda:us-east-1:222222222222:function:mlops-delivery-time", "arn:aws:lambda:us-east-1:222222222222:function:mlops-delivery-time:*",
    ])
    error_message = "The deploy role is scoped to each model's inference function (named, no wildcard over names) and its qualifiers."
  }

  assert {
    condition     = alltrue(flatten([for d in concat([data.aws_iam_policy_document.deploy, data.aws_iam_policy_document.invoke], values(data.aws_iam_policy_document.execution)) : [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No wildcard actions."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.deploy.statement : !contains(s.resources, "*")])
    error_message = "The deploy role has no * resources."
  }
}

# The smoke test gets its own role: it may invoke the alias and nothing else, and only this
# environment's smoke test function may assume it.
run "smoke_test_gets_an_invoke_only_role" {
  command = apply

  assert {
    condition     = jsonencode(flatten([for s in data.aws_iam_policy_document.invoke_assume.statement : [for p in s.principals : tolist(p.identifiers) if p.type == "AWS"]])) == jsonencode(var.smoke_test_role_arns)
    error_message = "Only this environment's smoke test role may assume the invoke role."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.invoke_assume.statement : jsonencode(s.actions) == jsonencode(["sts:AssumeRole"])])
    error_message = "The invoke role's trust policy allows sts:AssumeRole only."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.invoke.statement : { actions = s.actions, resources = s.resources }]) == jsonencode([{
      actions   = ["lambda:InvokeFunction"],
      resources = ["arn:aws:lambda:us-east-1:222222222222:function:mlops-churn-v2-1:live", "arn:aws:lambda:us-east-1:222222222222:function:mlops-delivery-time:live"]
    }])
    error_message = "The invoke role may only invoke each model's alias live."
  }

  assert {
    condition     = length(setintersection(flatten([for s in data.aws_iam_policy_document.deploy_assume.statement : [for p in s.principals : tolist(p.identifiers)]]), var.smoke_test_role_arns)) == 0
    error_message = "The smoke test role may not assume the deploy role."
  }

  assert {
    condition     = output.deploy_target.invoke_role_arn == aws_iam_role.invoke.arn && output.deploy_target.role_arn == aws_iam_role.deploy.arn
    error_message = "deploy_target hands the pipeline both roles."
  }
}

# Prod's gradual rollout (src/mlops_pipeline/handlers/rollout_steps.py): deploy_prod judges each
# bake on CloudWatch metrics through the deploy role, and the smoke test calls the published
# version before it gets traffic. Prod only: stage moves at once and tests the alias.
run "prod_roles_read_rollout_metrics_and_invoke_published_versions" {
  command = apply

  variables {
    environment = "prod"
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.deploy.statement : { actions = s.actions, resources = s.resources } if s.sid == "ReadRolloutMetrics"]) == jsonencode([{
      actions = ["cloudwatch:GetMetricData"], resources = ["*"]
    }])
    error_message = "Prod's deploy role may read metrics with cloudwatch:GetMetricData (no resource-level permissions: \"*\")."
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.deploy.statement : s.sid if contains(s.resources, "*")]) == jsonencode(["ReadRolloutMetrics"])
    error_message = "Only the GetMetricData statement uses the * resource."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.invoke.statement : { sid = s.sid, actions = s.actions, resources = s.resources }]) == jsonencode([
      {
        sid       = "InvokeAlias", actions = ["lambda:InvokeFunction"],
        resources = ["arn:aws:lambda:us-east-1:222222222222:function:mlops-churn-v2-1:live", "arn:aws:lambda:us-east-1:222222222222:function:mlops-delivery-time:live"]
      },
      {
        sid       = "InvokePublishedVersions", actions = ["lambda:InvokeFunction"],
        resources = ["arn:aws:lambda:us-east-1:222222222222:function:mlops-churn-v2-1:*", "arn:aws:lambda:us-east-1:222222222222:function:mlops-delivery-time:*"]
      },
    ])
    error_message = "Prod's invoke role may invoke each model function's alias and its published versions (qualified ARNs of the named functions only), nothing else."
  }

  assert {
    condition     = alltrue(flatten([for d in [data.aws_iam_policy_document.deploy, data.aws_iam_policy_document.invoke] : [for s in d.statement : [for a in s.actions : !strcontains(a, "*")]]]))
    error_message = "No wildcard actions."
  }
}

run "stage_roles_get_no_rollout_grants" {
  command = apply

  assert {
    condition = (
      !anytrue([for s in data.aws_iam_policy_document.deploy.statement : anytrue([for a in s.actions : startswith(a, "cloudwatch:")])]) &&
      jsonencode([for s in data.aws_iam_policy_document.invoke.statement : s.sid]) == jsonencode(["InvokeAlias"])
    )
    error_message = "Stage moves at once: its deploy role reads no metrics and its invoke role reaches the alias only."
  }
}

run "rejects_a_smoke_test_role_that_is_a_deployer" {
  command = plan

  variables {
    smoke_test_role_arns = ["arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda"]
  }

  expect_failures = [var.smoke_test_role_arns]
}

run "each_model_gets_a_zip_function_with_alias_live" {
  command = apply

  assert {
    condition     = jsonencode(sort(keys(aws_lambda_function.this))) == jsonencode(["churn_v2.1", "delivery-time"])
    error_message = "One inference function per declared model."
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.package_type == "Zip" && jsonencode(f.architectures) == jsonencode(["arm64"])])
    error_message = "Inference runs a zip on arm64 by default."
  }

  assert {
    condition = alltrue([for f in aws_lambda_function.this :
      f.filename == "placeholder.zip" && f.image_uri == null && f.handler == "serving.handler.handler" && f.runtime == "python3.12"
    ])
    error_message = "Every function starts from the placeholder zip, with the serving runtime's handler on python3.12."
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : length(f.snap_start) == 0])
    error_message = "SnapStart is off unless asked for (it costs per version and per restore)."
  }

  assert {
    condition     = alltrue([for model, a in aws_lambda_alias.live : a.name == "live" && a.function_version == "1" && a.function_name == aws_lambda_function.this[model].function_name])
    error_message = "Each function's alias live points at its first published version."
  }

  assert {
    condition     = length(aws_lambda_function_url.live) == 0
    error_message = "No Function URL unless asked for."
  }
}

# Names and settings: <name_prefix>-<model with . and _ as ->, the module's defaults unless the
# model sets its own; each function its own log group and an execution role writing only there.
run "each_model_gets_its_own_name_settings_logs_and_role" {
  command = apply

  assert {
    condition     = aws_lambda_function.this["delivery-time"].function_name == "mlops-delivery-time" && aws_lambda_function.this["churn_v2.1"].function_name == "mlops-churn-v2-1"
    error_message = "Default function names are <name_prefix>-<model with . and _ replaced by ->."
  }

  assert {
    condition = (
      aws_lambda_function.this["delivery-time"].memory_size == 1024 && aws_lambda_function.this["delivery-time"].timeout == 30 &&
      aws_lambda_function.this["delivery-time"].reserved_concurrent_executions == -1 &&
      aws_lambda_function.this["churn_v2.1"].memory_size == 2048 && aws_lambda_function.this["churn_v2.1"].timeout == 60 &&
      aws_lambda_function.this["churn_v2.1"].reserved_concurrent_executions == 5
    )
    error_message = "A model's own settings win; the others take the module-wide defaults."
  }

  assert {
    condition = alltrue([for model, f in aws_lambda_function.this :
      aws_cloudwatch_log_group.this[model].name == "/aws/lambda/${f.function_name}" && f.role == aws_iam_role.execution[model].arn &&
      aws_iam_role.execution[model].name == "${f.function_name}-execution"
    ])
    error_message = "Each function has its own log group and execution role."
  }

  assert {
    condition = alltrue([for model, d in data.aws_iam_policy_document.execution :
      jsonencode(one([for s in d.statement : s.resources if s.sid == "OwnLogs"])) == jsonencode(["${aws_cloudwatch_log_group.this[model].arn}:*"])
    ])
    error_message = "An execution role writes its own function's log group only."
  }

  assert {
    condition = jsonencode(output.deploy_target.functions) == jsonencode({
      "churn_v2.1"    = { function_name = "mlops-churn-v2-1", smoke_max_latency_ms = 500 }
      "delivery-time" = { function_name = "mlops-delivery-time", smoke_max_latency_ms = null }
    })
    error_message = "deploy_target lists every model's function and smoke latency bound."
  }

  assert {
    condition     = !contains(keys(output.deploy_target), "function_name") && output.deploy_target.alias == "live" && output.deploy_target.external_id == null
    error_message = "deploy_target has no single function_name any more; alias and external_id are per account."
  }

  assert {
    condition     = jsonencode(keys(output.function_name)) == jsonencode(["churn_v2.1", "delivery-time"]) && output.function_name["delivery-time"] == "mlops-delivery-time"
    error_message = "function_name is a map keyed by model."
  }
}

# A long function name still gets an execution role name IAM accepts (<= 64 characters).
run "long_function_names_get_short_role_names" {
  command   = apply
  state_key = "long_name"

  variables {
    models = { "a-model-name-that-is-quite-long-indeed-for-a-lambda-fn" = {} }
  }

  assert {
    condition = (
      aws_lambda_function.this["a-model-name-that-is-quite-long-indeed-for-a-lambda-fn"].function_name == "mlops-a-model-name-that-is-quite-long-indeed-for-a-lambda-fn" &&
      length(aws_iam_role.execution["a-model-name-that-is-quite-long-indeed-for-a-lambda-fn"].name) <= 64 &&
      endswith(aws_iam_role.execution["a-model-name-that-is-quite-long-indeed-for-a-lambda-fn"].name, "-execution")
    )
    error_message = "The execution role name is cut to IAM's 64 characters."
  }
}

run "a_model_may_name_its_function" {
  command = plan

  variables {
    models = { "delivery-time" = { function_name = "mlops-inference" } }
  }

  assert {
    condition     = aws_lambda_function.this["delivery-time"].function_name == "mlops-inference" && output.deploy_target.functions["delivery-time"].function_name == "mlops-inference"
    error_message = "function_name overrides the default (e.g. to keep a function from before per-model functions)."
  }
}

run "rejects_no_models" {
  command = plan

  variables {
    models = {}
  }

  expect_failures = [var.models]
}

run "rejects_a_bad_model_name" {
  command = plan

  variables {
    models = { "delivery time" = {} }
  }

  expect_failures = [var.models]
}

run "rejects_a_default_function_name_over_64_characters" {
  command = plan

  variables {
    models = { "a-model-name-that-is-far-too-long-for-the-default-lambda-name" = {} }
  }

  expect_failures = [var.models]
}

run "rejects_two_models_on_one_function" {
  command = plan

  variables {
    models = { "churn.v2" = {}, "churn_v2" = {} }
  }

  expect_failures = [var.models]
}

# What the pipeline moves must stay where the pipeline put it: a later apply with another
# placeholder leaves the function's code and the alias alone (lifecycle ignore_changes).
run "pipeline_owned_attributes_are_ignored" {
  command = plan

  variables {
    placeholder_zip = { path = "other.zip", base64sha256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" }
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.filename == "placeholder.zip" && f.source_code_hash == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="])
    error_message = "Changed code must not be planned: the pipeline owns the function's code."
  }

  assert {
    condition     = alltrue([for a in aws_lambda_alias.live : a.function_version == "1"])
    error_message = "The alias version must not be planned: the pipeline owns it."
  }
}

run "function_url_uses_iam_auth" {
  command   = apply
  state_key = "function_url"

  variables {
    models = { "delivery-time" = { function_url = true }, "churn" = {} }
  }

  assert {
    condition     = jsonencode(keys(aws_lambda_function_url.live)) == jsonencode(["delivery-time"])
    error_message = "A Function URL only for the models that ask for one."
  }

  assert {
    condition     = aws_lambda_function_url.live["delivery-time"].authorization_type == "AWS_IAM" && aws_lambda_function_url.live["delivery-time"].qualifier == "live" && aws_lambda_function_url.live["delivery-time"].function_name == "mlops-delivery-time"
    error_message = "The Function URL is on the model's alias live with IAM auth."
  }
}

# The deploy role reads serving zips (UpdateFunctionCode from S3 reads with the caller's rights):
# GetObject(Version) under the prefix of the one bucket, Decrypt with its key through S3 only.
run "deploy_role_reads_only_the_serving_zips" {
  command = apply

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.deploy.statement : { actions = sort(s.actions), resources = s.resources } if s.sid == "ReadServingZips"]) == jsonencode([{
      actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["arn:aws:s3:::mlops-artifacts-abc/serving/*"]
    }])
    error_message = "The deploy role may read the serving zips of the artifacts bucket and nothing else there."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.deploy.statement :
      s.sid == "DecryptServingZips" && jsonencode(s.actions) == jsonencode(["kms:Decrypt"]) && jsonencode(s.resources) == jsonencode([var.artifacts_kms_key_arn]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && jsonencode(c.values) == jsonencode(["s3.us-east-1.amazonaws.com"])])
    ])
    error_message = "The deploy role may decrypt with the artifacts key, through S3 only."
  }

  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.deploy.statement : anytrue([for a in s.actions : startswith(a, "ecr:")])])
    error_message = "A zip function's deploy role reads no images."
  }

  assert {
    condition     = output.deploy_target.functions["delivery-time"].function_name == "mlops-delivery-time" && output.deploy_target.alias == "live"
    error_message = "deploy_target names the functions and the alias."
  }
}

# The image option: an image function from the placeholder image, ECR reads instead of S3.
run "image_option" {
  command = apply
  # A fresh state: switching an existing function's package type replaces it (the provider's
  # ForceNew, which the mock provider does not plan).
  state_key = "image"

  variables {
    package_type      = "Image"
    initial_image_uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:placeholder"
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.package_type == "Image" && f.image_uri == var.initial_image_uri && f.filename == null])
    error_message = "package_type Image creates an image function from initial_image_uri."
  }

  assert {
    condition = (
      jsonencode(sort([for s in data.aws_iam_policy_document.deploy.statement : s.sid])) == jsonencode(["DeployInferenceFunction", "ReadServingImages"]) &&
      jsonencode(one([for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "ReadServingImages"])) == jsonencode([var.image_repository_arn])
    )
    error_message = "An image function's deploy role reads the serving repository, not the bucket."
  }
}

run "architecture_and_snapstart" {
  command = apply

  variables {
    architecture = "x86_64"
    snapstart    = true
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : jsonencode(f.architectures) == jsonencode(["x86_64"])]) && jsonencode(output.serving.architectures) == jsonencode(["x86_64"])
    error_message = "The function runs on the configured architecture."
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : one(f.snap_start).apply_on == "PublishedVersions"]) && output.serving.snapstart
    error_message = "SnapStart applies to published versions (the pipeline publishes one per deploy)."
  }
}

run "rejects_snapstart_for_images" {
  command = plan

  variables {
    package_type      = "Image"
    initial_image_uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:placeholder"
    snapstart         = true
  }

  expect_failures = [var.snapstart]
}

run "rejects_an_unknown_architecture" {
  command = plan

  variables {
    architecture = "aarch64"
  }

  expect_failures = [var.architecture]
}

run "rejects_account_root_as_deployer" {
  command = plan

  variables {
    deployer_role_arns = ["arn:aws:iam::111111111111:root"]
  }

  expect_failures = [var.deployer_role_arns]
}
