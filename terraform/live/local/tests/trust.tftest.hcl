# Which tooling roles each target account trusts, planned with the real provider (offline: no
# credentials, no API call) so the trust policies are rendered as AWS would receive them. The
# emulator does not evaluate trust policies, so this is where the wiring is proved: the prod
# deploy role trusts exactly the prod deploy and rollback functions' roles, its invoke role
# exactly the prod smoke test's, and stage's roles never appear in prod (nor prod's in stage).
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

provider "aws" {
  alias                       = "stage"
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

provider "aws" {
  alias                       = "prod"
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

override_data {
  target          = module.pipeline.data.aws_caller_identity.this
  values          = { account_id = "111111111111" }
  override_during = plan
}

override_data {
  target          = module.stage.data.aws_caller_identity.this
  values          = { account_id = "222222222222" }
  override_during = plan
}

override_data {
  target          = module.prod.data.aws_caller_identity.this
  values          = { account_id = "333333333333" }
  override_during = plan
}

# The function roles' ARNs are known only after apply; give them the ones AWS would.
override_resource {
  target          = module.pipeline.aws_iam_role.lambda["deploy_stage"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda" }
  override_during = plan
}

override_resource {
  target          = module.pipeline.aws_iam_role.lambda["rollback_stage"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda" }
  override_during = plan
}

override_resource {
  target          = module.pipeline.aws_iam_role.lambda["smoke_test_stage"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda" }
  override_during = plan
}

override_resource {
  target          = module.pipeline.aws_iam_role.lambda["deploy_prod"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-deploy-prod-lambda" }
  override_during = plan
}

override_resource {
  target          = module.pipeline.aws_iam_role.lambda["rollback_prod"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-rollback-prod-lambda" }
  override_during = plan
}

override_resource {
  target          = module.pipeline.aws_iam_role.lambda["smoke_test_prod"]
  values          = { arn = "arn:aws:iam::111111111111:role/mlops-smoke-test-prod-lambda" }
  override_during = plan
}

variables {
  lambda_dist_dir = "tests/fixtures/dist"
}

run "each_target_account_trusts_only_its_own_environment" {
  command = plan

  assert {
    condition = jsonencode(sort(flatten([for s in jsondecode(module.prod.trust_policies.deploy).Statement : s.Principal.AWS]))) == jsonencode([
      "arn:aws:iam::111111111111:role/mlops-deploy-prod-lambda", "arn:aws:iam::111111111111:role/mlops-rollback-prod-lambda",
    ])
    error_message = "The prod deploy role trusts exactly the prod deploy and rollback functions' roles: ${module.prod.trust_policies.deploy}"
  }

  assert {
    condition     = jsonencode(flatten([for s in jsondecode(module.prod.trust_policies.invoke).Statement : s.Principal.AWS])) == jsonencode(["arn:aws:iam::111111111111:role/mlops-smoke-test-prod-lambda"])
    error_message = "The prod invoke role trusts exactly the prod smoke test's role: ${module.prod.trust_policies.invoke}"
  }

  assert {
    condition = jsonencode(sort(flatten([for s in jsondecode(module.stage.trust_policies.deploy).Statement : s.Principal.AWS]))) == jsonencode([
      "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda", "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda",
    ])
    error_message = "The stage deploy role trusts exactly the stage deploy and rollback functions' roles: ${module.stage.trust_policies.deploy}"
  }

  assert {
    condition     = jsonencode(flatten([for s in jsondecode(module.stage.trust_policies.invoke).Statement : s.Principal.AWS])) == jsonencode(["arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda"])
    error_message = "The stage invoke role trusts exactly the stage smoke test's role: ${module.stage.trust_policies.invoke}"
  }

  assert {
    condition = alltrue([for s in concat(
      jsondecode(module.prod.trust_policies.deploy).Statement, jsondecode(module.prod.trust_policies.invoke).Statement,
      jsondecode(module.stage.trust_policies.deploy).Statement, jsondecode(module.stage.trust_policies.invoke).Statement,
    ) : s.Effect == "Allow" && s.Action == "sts:AssumeRole" && length(keys(s.Principal)) == 1])
    error_message = "Every trust statement allows sts:AssumeRole to the listed roles and nothing else."
  }
}
