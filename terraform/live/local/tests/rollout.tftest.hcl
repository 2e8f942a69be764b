# The local root's rollout (var.rollout) and the prod rollback function, planned with mocked providers.
mock_provider "aws" {
  source = "./tests/mocks/tooling"
}

mock_provider "aws" {
  alias  = "stage"
  source = "./tests/mocks/stage"
}

mock_provider "aws" {
  alias  = "prod"
  source = "./tests/mocks/prod"
}

variables {
  lambda_dist_dir = "tests/fixtures/packaged"
}

# Locally prod rolls out in two short steps the demo can drive traffic through: no metrics delay
# (the emulator writes Lambda's metrics at once), no p99 ratio (every invocation is a cold process).
run "the_local_rollout_is_short_and_gradual" {
  command = plan

  assert {
    condition = jsonencode(module.pipeline.rollout_settings) == jsonencode({
      ROLLOUT_BAKE_SECONDS          = "10"
      ROLLOUT_MAX_ERROR_RATE        = "1"
      ROLLOUT_MAX_EXTENSIONS        = "2"
      ROLLOUT_MAX_P99_MS            = "off"
      ROLLOUT_MAX_P99_RATIO         = "off"
      ROLLOUT_MAX_THROTTLES         = "0"
      ROLLOUT_METRICS_DELAY_SECONDS = "0"
      ROLLOUT_MODE                  = "gradual"
      ROLLOUT_NO_TRAFFIC            = "extend"
      ROLLOUT_STEPS                 = "50,100"
    })
    error_message = "The local root rolls out gradually: 50 % then 100 %, 10 s bakes, no metrics delay, no p99 ratio."
  }

  assert {
    condition     = output.prod_rollback_function_name == "mlops-rollback-prod"
    error_message = "The root outputs the prod rollback function's name."
  }
}

run "the_rollout_is_passed_through" {
  command = plan

  variables {
    rollout = { mode = "all_at_once", metrics_delay_seconds = 0 }
  }

  assert {
    condition     = module.pipeline.rollout_settings.ROLLOUT_MODE == "all_at_once" && module.pipeline.rollout_settings.ROLLOUT_STEPS == "10,100" && module.pipeline.rollout_settings.ROLLOUT_METRICS_DELAY_SECONDS == "0"
    error_message = "The root's rollout reaches the pipeline module (unset fields: the module's defaults)."
  }
}
