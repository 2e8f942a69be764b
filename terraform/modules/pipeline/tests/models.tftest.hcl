# Per-model inference functions (issue 11), against a mocked AWS provider.
mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  lambda_packages = {
    core     = { path = "core.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
    registry = { path = "registry.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  }
  deploy_targets = {
    stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" }, "churn_v2.1" = { function_name = "mlops-churn-v2-1", smoke_max_latency_ms = 500 } } }
    prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" }, "churn_v2.1" = { function_name = "mlops-churn-v2-1", smoke_max_latency_ms = 500 } } }
  }
  image_consumer_account_ids    = ["222222222222", "333333333333"]
  slack_channel                 = "C0123456789"
  mlflow_tracking_uri           = "https://mlflow.example.com"
  mlflow_credentials_secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow/pipeline-AbCdEf"
}

# Every declared model (the keys of deploy_targets' functions, the target_account module's
# models) has an inference function in stage and in prod: the deploy, smoke test and rollback
# functions learn them through DEPLOY_TARGETS, the build, training and Evaluate through
# DECLARED_MODELS, and the table grants name each model's lock and deployed state.
run "deploy_targets_carry_every_model_function" {
  command = apply

  assert {
    condition = jsondecode(aws_lambda_function.this["deploy_prod"].environment[0].variables.DEPLOY_TARGETS) == jsondecode(jsonencode({
      prod = {
        role_arn    = "arn:aws:iam::333333333333:role/mlops-deploy"
        alias       = "live"
        external_id = null
        functions = {
          "churn_v2.1"    = { function_name = "mlops-churn-v2-1", smoke_max_latency_ms = 500 }
          "delivery-time" = { function_name = "mlops-delivery-time", smoke_max_latency_ms = null }
        }
      }
    }))
    error_message = "DEPLOY_TARGETS: role, alias, external_id and functions per model (docs interface: no env-level function_name)."
  }

  assert {
    condition = alltrue(flatten([for e in ["stage", "prod"] : [for k in ["deploy_${e}", "rollback_${e}", "smoke_test_${e}"] :
      !contains(keys(jsondecode(aws_lambda_function.this[k].environment[0].variables.DEPLOY_TARGETS)[e]), "function_name") &&
      jsonencode(keys(jsondecode(aws_lambda_function.this[k].environment[0].variables.DEPLOY_TARGETS)[e].functions)) == jsonencode(["churn_v2.1", "delivery-time"])
    ]]))
    error_message = "Deploy, smoke test and rollback know every model's function, and no single function_name."
  }

  assert {
    condition = (
      jsondecode(aws_lambda_function.this["smoke_test_stage"].environment[0].variables.DEPLOY_TARGETS).stage.role_arn == "arn:aws:iam::222222222222:role/mlops-smoke-test" &&
      jsondecode(aws_lambda_function.this["smoke_test_stage"].environment[0].variables.DEPLOY_TARGETS).stage.functions["churn_v2.1"].smoke_max_latency_ms == 500 &&
      aws_lambda_function.this["smoke_test_stage"].environment[0].variables.SMOKE_MAX_LATENCY_MS == "3000"
    )
    error_message = "The smoke test assumes the invoke role, with each model's latency bound and the module-wide default."
  }

  assert {
    condition     = jsonencode(output.declared_models) == jsonencode(["churn_v2.1", "delivery-time"])
    error_message = "declared_models lists the models, sorted."
  }
}

run "declared_models_reach_the_builds_and_evaluate" {
  command = apply

  assert {
    condition = alltrue([for p in [aws_codebuild_project.this, aws_codebuild_project.train] :
    contains([for e in p.environment[0].environment_variable : "${e.name}=${e.value}" if e.type == "PLAINTEXT"], "DECLARED_MODELS=churn_v2.1,delivery-time")])
    error_message = "Both CodeBuild projects (build and train) get DECLARED_MODELS, sorted and comma-joined."
  }

  assert {
    condition     = aws_lambda_function.this["evaluate"].environment[0].variables.DECLARED_MODELS == "churn_v2.1,delivery-time"
    error_message = "Evaluate gets DECLARED_MODELS."
  }
}

run "table_grants_name_every_model_s_lock_and_state" {
  command = apply

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.lambda["deploy_stage"].statement : flatten([for c in s.condition : c.values]) if s.sid == "DeploymentLock"]))) == jsonencode([
      "LOCK#deploy-stage-churn_v2.1", "LOCK#deploy-stage-delivery-time",
    ])
    error_message = "deploy_stage may use the lock of each declared model in stage, named exactly."
  }

  assert {
    condition = jsonencode(sort(one([for s in data.aws_iam_policy_document.lambda["promote"].statement : flatten([for c in s.condition : c.values]) if s.sid == "DeployedState"]))) == jsonencode([
      "ENV#prod#churn_v2.1", "ENV#prod#delivery-time", "ENV#stage#churn_v2.1", "ENV#stage#delivery-time",
    ])
    error_message = "promote records the deployed state of each declared model per environment, named exactly."
  }

  assert {
    condition = alltrue([for k, d in data.aws_iam_policy_document.lambda : alltrue([for s in d.statement :
      alltrue([for c in s.condition : alltrue([for v in c.values : !(startswith(v, "LOCK#") || startswith(v, "ENV#")) || !strcontains(v, "*")])])
    ])])
    error_message = "No wildcard in a lock or deployed-state key."
  }
}

run "rejects_environments_with_different_models" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" }, churn = { function_name = "mlops-churn" } } }
      prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" } } }
    }
  }

  expect_failures = [var.deploy_targets]
}

run "rejects_an_environment_without_models" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = {} }
      prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = {} }
    }
  }

  expect_failures = [var.deploy_targets]
}

run "rejects_a_bad_model_name" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "LOCK*" = { function_name = "mlops-x" } } }
      prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "LOCK*" = { function_name = "mlops-x" } } }
    }
  }

  expect_failures = [var.deploy_targets]
}

run "rejects_declared_models_in_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { DECLARED_MODELS = "anything" }
    codebuild_environment        = { DECLARED_MODELS = "anything" }
    train_environment            = { DECLARED_MODELS = "anything" }
  }

  expect_failures = [var.lambda_environment_overrides, var.codebuild_environment, var.train_environment]
}

# Lambda refuses more than 4 KB of environment: 80 models' DEPLOY_TARGETS is refused at plan.
run "refuses_more_models_than_a_function_environment_holds" {
  command = plan

  variables {
    deploy_targets = {
      stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { for i in range(80) : "model-${i}" => { function_name = "mlops-model-${i}" } } }
      prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { for i in range(80) : "model-${i}" => { function_name = "mlops-model-${i}" } } }
    }
  }

  expect_failures = [aws_lambda_function.this["deploy_stage"], aws_lambda_function.this["deploy_prod"], aws_lambda_function.this["smoke_test_stage"], aws_lambda_function.this["smoke_test_prod"], aws_lambda_function.this["rollback_stage"], aws_lambda_function.this["rollback_prod"]]
}
