# A GitHub or GitLab source (git_source): the webhook, its secret and route, the CodeConnections
# connection both CodeBuild projects clone through; no CodeCommit rule or repository. Mocked AWS provider.
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

# Distinct ARNs where the assertions must tell the secrets apart (the mock gives all the same).
override_resource {
  target = aws_secretsmanager_secret.git_webhook
  values = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/git-webhook-secret-MnOpQr" }
}

run "a_github_source_is_a_signed_webhook_and_a_connection" {
  command = apply

  variables {
    git_source     = "github"
    git_repository = "octo-org/models"
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.trigger) == 0 && length(aws_cloudwatch_event_target.trigger) == 0 && length(aws_codecommit_repository.this) == 0 && output.trigger_rule_name == null && output.repository_arn == null
    error_message = "With a GitHub source neither the CodeCommit rule nor the repository exist."
  }

  assert {
    condition = jsonencode({ for k, v in aws_lambda_function.this["git_webhook"].environment[0].variables : k => v if startswith(k, "GIT_") || k == "STATE_MACHINE_ARN" }) == jsonencode({
      GIT_BRANCH             = "main"
      GIT_HOST               = "github"
      GIT_REPOSITORY         = "octo-org/models"
      GIT_WEBHOOK_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/git-webhook-secret-MnOpQr"
      STATE_MACHINE_ARN      = "arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline"
    })
    error_message = "git_webhook is told the host, repository, branch, its secret and the state machine."
  }

  assert {
    condition     = aws_lambda_function.this["git_webhook"].handler == "mlops_pipeline.handlers.git_webhook.handler" && !contains(keys(aws_lambda_function.this["git_webhook"].environment[0].variables), "SLACK_SIGNING_SECRET_ARN")
    error_message = "git_webhook runs its handler and is not told the Slack signing secret."
  }

  assert {
    condition     = aws_apigatewayv2_route.git_webhook[0].route_key == "POST /git/webhook" && aws_apigatewayv2_integration.git_webhook[0].integration_uri == aws_lambda_function.this["git_webhook"].invoke_arn && aws_lambda_permission.git_webhook[0].source_arn == "arn:aws:execute-api:us-east-1:111111111111:abc123/*/POST/git/webhook"
    error_message = "POST /git/webhook on the HTTP API invokes git_webhook, and API Gateway may invoke it on that route only."
  }

  assert {
    condition     = output.git_webhook_url == "https://abc123.execute-api.us-east-1.amazonaws.com/git/webhook" && output.git_webhook_secret_arn == aws_secretsmanager_secret.git_webhook[0].arn
    error_message = "The outputs name the webhook's URL and its secret."
  }

  assert {
    condition     = aws_codeconnections_connection.this[0].provider_type == "GitHub" && output.codeconnections_connection_arn == "arn:aws:codeconnections:us-east-1:111111111111:connection/0000-conn"
    error_message = "A GitHub CodeConnections connection exists and is an output (doctor checks it)."
  }

  assert {
    condition = alltrue([for p in [aws_codebuild_project.this, aws_codebuild_project.train] :
      p.source[0].type == "GITHUB" && p.source[0].location == "https://github.com/octo-org/models.git" &&
      p.source[0].auth[0].type == "CODECONNECTIONS" && p.source[0].auth[0].resource == aws_codeconnections_connection.this[0].arn
    ])
    error_message = "Both CodeBuild projects clone the GitHub repository through the connection."
  }

  assert {
    condition = alltrue([for d in [data.aws_iam_policy_document.codebuild, data.aws_iam_policy_document.train] :
      jsonencode([for s in d.statement : s.resources if anytrue([for a in s.actions : startswith(a, "codeconnections:")])]) == jsonencode([["arn:aws:codeconnections:us-east-1:111111111111:connection/0000-conn"]]) &&
      !anytrue([for s in d.statement : anytrue([for a in s.actions : startswith(a, "codecommit:")])])
    ])
    error_message = "Both CodeBuild roles may use this connection only, and pull from no CodeCommit repository."
  }

  assert {
    condition = jsonencode({ for k, d in data.aws_iam_policy_document.lambda : k => sort(flatten([for s in d.statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) if anytrue([for s in d.statement : contains(flatten([for r in s.resources : [r]]), aws_secretsmanager_secret.git_webhook[0].arn)]) }) == jsonencode({
      git_webhook = ["arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/git-webhook-secret-MnOpQr"]
    })
    error_message = "Only git_webhook may read the webhook secret, and it reads no other secret (no Slack token)."
  }

  assert {
    condition     = [for k, d in data.aws_iam_policy_document.lambda : k if anytrue([for s in d.statement : contains(s.actions, "states:StartExecution")])] == ["git_webhook"]
    error_message = "git_webhook is the only function that may start the pipeline."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.lambda["git_webhook"].statement : {
      sid = s.sid, actions = sort(s.actions), resources = s.resources, keys = flatten([for c in s.condition : c.values])
      } if s.sid == "StartPipeline" || s.sid == "WebhookDeliveries"]) == jsonencode([
      { sid = "WebhookDeliveries", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = ["arn:aws:dynamodb:us-east-1:111111111111:table/mlops-pipeline"], keys = ["WEBHOOK#*"] },
      { sid = "StartPipeline", actions = ["states:StartExecution"], resources = ["arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline"], keys = [] },
    ])
    error_message = "git_webhook writes its WEBHOOK#* records only (no delete, scan or query) and starts this state machine only."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.git_webhook_secret[0].statement :
      s.effect == "Deny" && contains(s.actions, "secretsmanager:GetSecretValue") &&
      jsonencode(one([for c in s.condition : c.values if c.variable == "aws:PrincipalArn" && c.test == "StringNotEquals"])) == jsonencode([aws_iam_role.lambda["git_webhook"].arn])
    ]) && aws_secretsmanager_secret.git_webhook[0].kms_key_id == aws_kms_key.this.arn
    error_message = "The webhook secret's own policy denies every other principal; it is encrypted with the pipeline key."
  }
}

run "a_gitlab_source_uses_a_gitlab_connection" {
  command = apply

  variables {
    git_source     = "gitlab"
    git_repository = "data-team/ml/models"
    branch         = "release"
  }

  assert {
    condition     = aws_codeconnections_connection.this[0].provider_type == "GitLab" && aws_codebuild_project.train.source[0].type == "GITLAB" && aws_codebuild_project.train.source[0].location == "https://gitlab.com/data-team/ml/models.git"
    error_message = "A GitLab source clones gitlab.com through a GitLab connection."
  }

  assert {
    condition     = aws_lambda_function.this["git_webhook"].environment[0].variables.GIT_HOST == "gitlab" && aws_lambda_function.this["git_webhook"].environment[0].variables.GIT_BRANCH == "release"
    error_message = "The webhook verifies GitLab's token and accepts the configured branch."
  }
}

run "the_webhook_has_an_api_without_slack" {
  command = apply

  variables {
    git_source       = "github"
    git_repository   = "octo-org/models"
    create_slack_api = false
  }

  assert {
    condition     = length(aws_apigatewayv2_api.slack) == 1 && length(aws_apigatewayv2_route.slack) == 0 && length(aws_apigatewayv2_route.git_webhook) == 1 && output.slack_request_url == null
    error_message = "Without the Slack API the HTTP API still carries the webhook route (and only it)."
  }
}

run "codecommit_has_no_webhook" {
  command = apply

  assert {
    condition = (
      !contains(keys(aws_lambda_function.this), "git_webhook") && !contains(keys(aws_iam_role.lambda), "git_webhook") &&
      length(aws_secretsmanager_secret.git_webhook) == 0 && length(aws_codeconnections_connection.this) == 0 &&
      length(aws_apigatewayv2_route.git_webhook) == 0 && length(aws_cloudwatch_event_rule.trigger) == 1 &&
      aws_codebuild_project.this.source[0].type == "CODECOMMIT" && length(aws_codebuild_project.this.source[0].auth) == 0 &&
      output.git_webhook_url == null && output.codeconnections_connection_arn == null
    )
    error_message = "With CodeCommit (the default) no webhook function, role, secret, route or connection exists; the EventBridge rule does."
  }
}

run "rejects_an_unknown_git_source" {
  command = plan

  variables {
    git_source = "bitbucket"
  }

  expect_failures = [var.git_source]
}

run "rejects_a_webhook_source_without_a_repository" {
  command = plan

  variables {
    git_source = "github"
  }

  expect_failures = [var.git_repository]
}

run "rejects_a_repository_that_is_not_owner_slash_name" {
  command = plan

  variables {
    git_source     = "gitlab"
    git_repository = "https://gitlab.com/x/y.git"
  }

  expect_failures = [var.git_repository]
}

run "rejects_webhook_settings_in_environment_overrides" {
  command = plan

  variables {
    git_source                   = "github"
    git_repository               = "octo-org/models"
    lambda_environment_overrides = { GIT_REPOSITORY = "attacker/repo" }
  }

  expect_failures = [var.lambda_environment_overrides]
}
