# The gradual rollout's policy (var.rollout -> ROLLOUT_* of deploy_prod only), against a mocked AWS provider.
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

# The defaults are those of src/mlops_pipeline/domain/rollout.py (SETTINGS) and config.py.
run "rollout_settings_reach_deploy_prod_only" {
  command = plan

  assert {
    condition = jsonencode({ for k, v in aws_lambda_function.this["deploy_prod"].environment[0].variables : k => v if startswith(k, "ROLLOUT_") }) == jsonencode({
      ROLLOUT_BAKE_SECONDS          = "300"
      ROLLOUT_MAX_ERROR_RATE        = "1"
      ROLLOUT_MAX_EXTENSIONS        = "2"
      ROLLOUT_MAX_P99_MS            = "off"
      ROLLOUT_MAX_P99_RATIO         = "1.5"
      ROLLOUT_MAX_THROTTLES         = "0"
      ROLLOUT_METRICS_DELAY_SECONDS = "90"
      ROLLOUT_MODE                  = "gradual"
      ROLLOUT_NO_TRAFFIC            = "extend"
      ROLLOUT_STEPS                 = "10,100"
    })
    error_message = "deploy_prod gets every ROLLOUT_* setting, by default the domain's defaults."
  }

  assert {
    condition     = jsonencode(output.rollout_settings) == jsonencode({ for k, v in aws_lambda_function.this["deploy_prod"].environment[0].variables : k => v if startswith(k, "ROLLOUT_") })
    error_message = "Output rollout_settings is what deploy_prod gets."
  }

  # Each shift renews the lock; two bakes may be added for lack of traffic: (300 + 90) x 3 + 300.
  assert {
    condition     = aws_lambda_function.this["deploy_prod"].environment[0].variables.LOCK_TTL_SECONDS == "1470" && aws_lambda_function.this["deploy_stage"].environment[0].variables.LOCK_TTL_SECONDS == "900"
    error_message = "deploy_prod's lock lease outlasts the longest stretch between two shifts (bake, metrics delay and extensions); stage keeps 900 s."
  }

  assert {
    condition     = jsonencode([for k, f in aws_lambda_function.this : k if anytrue([for name in keys(f.environment[0].variables) : startswith(name, "ROLLOUT_")])]) == jsonencode(["deploy_prod"])
    error_message = "Only deploy_prod (it runs the rollout steps) gets ROLLOUT_* settings: not deploy_stage, not the smoke tests."
  }
}

run "rollout_settings_are_passed_as_given" {
  command = plan

  variables {
    rollout = {
      mode                  = "all_at_once"
      steps                 = [5, 25, 100]
      bake_seconds          = 60
      max_error_rate        = 0.5
      max_throttles         = 3
      max_p99_ms            = 800
      max_p99_ratio         = "OFF"
      no_traffic            = "fail"
      max_extensions        = 0
      metrics_delay_seconds = 0
    }
  }

  assert {
    condition = jsonencode({ for k, v in aws_lambda_function.this["deploy_prod"].environment[0].variables : k => v if startswith(k, "ROLLOUT_") }) == jsonencode({
      ROLLOUT_BAKE_SECONDS          = "60"
      ROLLOUT_MAX_ERROR_RATE        = "0.5"
      ROLLOUT_MAX_EXTENSIONS        = "0"
      ROLLOUT_MAX_P99_MS            = "800"
      ROLLOUT_MAX_P99_RATIO         = "off"
      ROLLOUT_MAX_THROTTLES         = "3"
      ROLLOUT_METRICS_DELAY_SECONDS = "0"
      ROLLOUT_MODE                  = "all_at_once"
      ROLLOUT_NO_TRAFFIC            = "fail"
      ROLLOUT_STEPS                 = "5,25,100"
    })
    error_message = "Each rollout field becomes its ROLLOUT_* setting; \"off\" switches a p99 limit off."
  }

  assert {
    condition     = aws_lambda_function.this["deploy_prod"].environment[0].variables.LOCK_TTL_SECONDS == "900"
    error_message = "All at once, prod's lock keeps the 900 s lease (nothing bakes)."
  }
}

# Only the fields set change; null takes the default (a p99 limit is switched off with "off").
run "a_partial_rollout_keeps_the_other_defaults" {
  command = plan

  variables {
    rollout = { steps = [50, 100], max_p99_ratio = null }
  }

  assert {
    condition = (
      aws_lambda_function.this["deploy_prod"].environment[0].variables.ROLLOUT_STEPS == "50,100" &&
      aws_lambda_function.this["deploy_prod"].environment[0].variables.ROLLOUT_MAX_P99_RATIO == "1.5" &&
      aws_lambda_function.this["deploy_prod"].environment[0].variables.ROLLOUT_BAKE_SECONDS == "300"
    )
    error_message = "Unset (or null) rollout fields take the domain's defaults."
  }
}

run "rejects_an_unknown_mode" {
  command = plan

  variables {
    rollout = { mode = "canary" }
  }

  expect_failures = [var.rollout]
}

run "rejects_steps_that_do_not_end_at_100" {
  command = plan

  variables {
    rollout = { steps = [10, 50] }
  }

  expect_failures = [var.rollout]
}

run "rejects_steps_that_go_down" {
  command = plan

  variables {
    rollout = { steps = [50, 10, 100] }
  }

  expect_failures = [var.rollout]
}

run "rejects_a_step_of_0_or_a_fraction" {
  command = plan

  variables {
    rollout = { steps = [0, 12.5, 100] }
  }

  expect_failures = [var.rollout]
}

run "rejects_a_fractional_bake" {
  command = plan

  variables {
    rollout = { bake_seconds = 1.5 }
  }

  expect_failures = [var.rollout]
}

run "rejects_a_negative_metrics_delay" {
  command = plan

  variables {
    rollout = { metrics_delay_seconds = -1 }
  }

  expect_failures = [var.rollout]
}

run "rejects_an_error_rate_above_100" {
  command = plan

  variables {
    rollout = { max_error_rate = 101 }
  }

  expect_failures = [var.rollout]
}

run "rejects_a_p99_ratio_below_1" {
  command = plan

  variables {
    rollout = { max_p99_ratio = 0.9 }
  }

  expect_failures = [var.rollout]
}

run "rejects_a_p99_limit_that_is_not_a_number" {
  command = plan

  variables {
    rollout = { max_p99_ms = "fast" }
  }

  expect_failures = [var.rollout]
}

run "rejects_an_unknown_no_traffic_rule" {
  command = plan

  variables {
    rollout = { no_traffic = "ignore" }
  }

  expect_failures = [var.rollout]
}

# The rollout goes through var.rollout: an override would reach every function and bypass the checks.
run "rejects_rollout_settings_in_overrides" {
  command = plan

  variables {
    lambda_environment_overrides = { ROLLOUT_MODE = "all_at_once" }
  }

  expect_failures = [var.lambda_environment_overrides]
}
