# The declared models (var.models) wired into both target accounts and the pipeline, planned
# with mocked providers.
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
  models = {
    "delivery-time" = {}
    "churn"         = { memory_size = 2048, smoke_max_latency_ms = 1500 }
  }
}

# The root's models reach both target accounts (one function per model each) and, through their
# deploy_target outputs, the pipeline (DEPLOY_TARGETS, DECLARED_MODELS).
run "every_model_gets_a_function_in_both_accounts" {
  command = plan

  assert {
    condition     = jsonencode(module.pipeline.declared_models) == jsonencode(["churn", "delivery-time"])
    error_message = "The pipeline declares the root's models."
  }

  assert {
    condition = alltrue([for t in [module.stage.deploy_target, module.prod.deploy_target] :
      jsonencode(t.functions) == jsonencode({
        churn           = { function_name = "mlops-churn", smoke_max_latency_ms = 1500 }
        "delivery-time" = { function_name = "mlops-delivery-time", smoke_max_latency_ms = null }
      })
    ])
    error_message = "Stage and prod each get one function per model, named <name_prefix>-<model>."
  }
}

run "one_model_by_default" {
  command = plan

  variables {
    models = null
  }

  assert {
    condition     = jsonencode(module.pipeline.declared_models) == jsonencode(["delivery-time"])
    error_message = "Without models the root declares delivery-time (the example model)."
  }
}
