# Least privilege between the pipeline's own parts: which function may reach which secret,
# which items of the table, which target role and which state machine callback.
mock_provider "aws" {
  source = "./tests/mocks"
}

# Distinct ARNs where the assertions must tell resources apart (the mock gives all the same).
override_resource {
  target = aws_secretsmanager_secret.slack_signing
  values = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/slack-signing-secret-GhIjKl" }
}

override_resource {
  target = aws_cloudwatch_log_group.codebuild
  values = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codebuild/mlops-build" }
}

override_resource {
  target = aws_cloudwatch_log_group.train
  values = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codebuild/mlops-train" }
}

override_resource {
  target = aws_iam_role.train
  values = { arn = "arn:aws:iam::111111111111:role/mlops-pipeline-train" }
}

override_resource {
  target = aws_iam_role.codebuild
  values = { arn = "arn:aws:iam::111111111111:role/mlops-pipeline-build" }
}

override_resource {
  target = aws_codebuild_project.train
  values = { arn = "arn:aws:codebuild:us-east-1:111111111111:project/mlops-train" }
}

override_resource {
  target = aws_iam_role.lambda["slack_interactions"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-slack-interactions-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["deploy_stage"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["rollback_stage"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["smoke_test_stage"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["deploy_prod"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-deploy-prod-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["rollback_prod"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-rollback-prod-lambda" }
}

override_resource {
  target = aws_iam_role.lambda["smoke_test_prod"]
  values = { arn = "arn:aws:iam::111111111111:role/mlops-smoke-test-prod-lambda" }
}

variables {
  lambda_packages = {
    core     = { path = "core.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
    registry = { path = "registry.zip", base64sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
  }
  deploy_targets = {
    stage = { role_arn = "arn:aws:iam::222222222222:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::222222222222:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" }, churn = { function_name = "mlops-churn", smoke_max_latency_ms = 500 } } }
    prod  = { role_arn = "arn:aws:iam::333333333333:role/mlops-deploy", invoke_role_arn = "arn:aws:iam::333333333333:role/mlops-smoke-test", functions = { "delivery-time" = { function_name = "mlops-delivery-time" }, churn = { function_name = "mlops-churn", smoke_max_latency_ms = 500 } } }
  }
  image_consumer_account_ids    = ["222222222222", "333333333333"]
  slack_channel                 = "C0123456789"
  mlflow_tracking_uri           = "https://mlflow.example.com"
  mlflow_credentials_secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow/pipeline-AbCdEf"
}

run "only_slack_interactions_reads_the_signing_secret" {
  command = apply

  assert {
    condition = jsonencode([for k, d in data.aws_iam_policy_document.lambda : k if anytrue([for s in d.statement :
      contains(s.resources, "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/slack-signing-secret-GhIjKl")
    ])]) == jsonencode(["slack_interactions"])
    error_message = "Only slack_interactions may read the Slack signing secret."
  }

  assert {
    condition     = jsonencode([for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), "SLACK_SIGNING_SECRET_ARN")]) == jsonencode(["slack_interactions"])
    error_message = "Only slack_interactions is told where the signing secret is."
  }

  assert {
    condition     = aws_lambda_function.this["slack_interactions"].environment[0].variables.SLACK_SIGNING_SECRET_ARN != aws_lambda_function.this["slack_interactions"].environment[0].variables.SLACK_SECRET_ARN
    error_message = "The signing secret is a secret of its own, not the bot token's."
  }

  # Every function posts into the run's Slack thread; the bot token goes exactly where
  # SLACK_SECRET_ARN does, and nowhere else.
  assert {
    condition = jsonencode(sort([for k, d in data.aws_iam_policy_document.lambda : k if anytrue([for s in d.statement : contains(s.resources, aws_secretsmanager_secret.slack.arn)])])) == jsonencode(sort([
      for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), "SLACK_SECRET_ARN")
    ]))
    error_message = "The bot token secret is readable by exactly the functions that post to Slack."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.slack_signing.statement :
      s.effect == "Deny" && jsonencode(s.actions) == jsonencode(["secretsmanager:GetSecretValue"]) &&
      jsonencode([for c in s.condition : { test = c.test, variable = c.variable, values = c.values }]) == jsonencode([{
        test                                    = "StringNotEquals", variable = "aws:PrincipalArn", values = ["arn:aws:iam::111111111111:role/mlops-slack-interactions-lambda"]
      }])
    ]) && aws_secretsmanager_secret_policy.slack_signing.secret_arn == aws_secretsmanager_secret.slack_signing.arn
    error_message = "The signing secret's own policy denies reading it to every principal but slack_interactions' role."
  }
}

run "table_access_is_scoped_to_the_keys_each_function_uses" {
  command = apply

  # Action and partition key prefix (dynamodb:LeadingKeys) of every table statement, per function.
  assert {
    condition = jsonencode({ for k, d in data.aws_iam_policy_document.lambda : k => sort(flatten([for s in d.statement : [
      for a in s.actions : [for c in s.condition : [for v in c.values : "${a} ${v}"] if c.variable == "dynamodb:LeadingKeys"]
      ] if anytrue([for a in s.actions : startswith(a, "dynamodb:")])])) }) == jsonencode({
      deploy_prod = [
        "dynamodb:DeleteItem LOCK#deploy-prod-churn", "dynamodb:DeleteItem LOCK#deploy-prod-delivery-time", "dynamodb:GetItem APPROVAL#*",
        "dynamodb:GetItem ENV#prod#churn", "dynamodb:GetItem ENV#prod#delivery-time", "dynamodb:GetItem LOCK#deploy-prod-churn",
        "dynamodb:GetItem LOCK#deploy-prod-delivery-time", "dynamodb:GetItem RUN#*", "dynamodb:PutItem LOCK#deploy-prod-churn",
        "dynamodb:PutItem LOCK#deploy-prod-delivery-time", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
      deploy_stage = [
        "dynamodb:DeleteItem LOCK#deploy-stage-churn", "dynamodb:DeleteItem LOCK#deploy-stage-delivery-time", "dynamodb:GetItem ENV#stage#churn",
        "dynamodb:GetItem ENV#stage#delivery-time", "dynamodb:GetItem LOCK#deploy-stage-churn", "dynamodb:GetItem LOCK#deploy-stage-delivery-time",
        "dynamodb:GetItem RUN#*", "dynamodb:PutItem LOCK#deploy-stage-churn", "dynamodb:PutItem LOCK#deploy-stage-delivery-time",
        "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
      evaluate = [
        "dynamodb:GetItem RUN#*", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
      expire_approval = [
        "dynamodb:GetItem APPROVAL#*", "dynamodb:Query APPROVALS#*", "dynamodb:UpdateItem APPROVAL#*",
      ]
      notify = [
        "dynamodb:DeleteItem LOCK#deploy-prod-churn", "dynamodb:DeleteItem LOCK#deploy-prod-delivery-time",
        "dynamodb:DeleteItem LOCK#deploy-stage-churn", "dynamodb:DeleteItem LOCK#deploy-stage-delivery-time", "dynamodb:GetItem APPROVAL#*",
        "dynamodb:GetItem ROLLBACK#*", "dynamodb:GetItem RUN#*", "dynamodb:PutItem RUN#*", "dynamodb:Query APPROVALS#*",
        "dynamodb:UpdateItem APPROVAL#*", "dynamodb:UpdateItem RUN#*",
      ]
      promote = [
        "dynamodb:DeleteItem LOCK#deploy-prod-churn", "dynamodb:DeleteItem LOCK#deploy-prod-delivery-time",
        "dynamodb:DeleteItem LOCK#deploy-stage-churn", "dynamodb:DeleteItem LOCK#deploy-stage-delivery-time", "dynamodb:GetItem RUN#*",
        "dynamodb:PutItem ENV#prod#churn", "dynamodb:PutItem ENV#prod#delivery-time", "dynamodb:PutItem ENV#stage#churn",
        "dynamodb:PutItem ENV#stage#delivery-time", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
      report = [
        "dynamodb:GetItem ENV#prod#churn", "dynamodb:GetItem ENV#prod#delivery-time", "dynamodb:GetItem ROLLBACK#*", "dynamodb:GetItem RUN#*",
        "dynamodb:PutItem ROLLBACK#*", "dynamodb:PutItem RUN#*", "dynamodb:Query APPROVALS#*", "dynamodb:UpdateItem RUN#*",
      ]
      request_approval = [
        "dynamodb:GetItem APPROVAL#*", "dynamodb:GetItem RUN#*", "dynamodb:PutItem APPROVAL#*", "dynamodb:PutItem RUN#*",
        "dynamodb:Query APPROVALS#*", "dynamodb:UpdateItem APPROVAL#*", "dynamodb:UpdateItem RUN#*",
      ]
      rollback_prod = [
        "dynamodb:DeleteItem LOCK#deploy-prod-churn", "dynamodb:DeleteItem LOCK#deploy-prod-delivery-time",
        "dynamodb:GetItem ENV#prod#churn", "dynamodb:GetItem ENV#prod#delivery-time",
        "dynamodb:GetItem LOCK#deploy-prod-churn", "dynamodb:GetItem LOCK#deploy-prod-delivery-time", "dynamodb:GetItem ROLLBACK#*", "dynamodb:GetItem RUN#*",
        "dynamodb:PutItem ENV#prod#churn", "dynamodb:PutItem ENV#prod#delivery-time",
        "dynamodb:PutItem LOCK#deploy-prod-churn", "dynamodb:PutItem LOCK#deploy-prod-delivery-time", "dynamodb:PutItem ROLLBACK#*", "dynamodb:PutItem RUN#*",
        "dynamodb:UpdateItem ROLLBACK#*", "dynamodb:UpdateItem RUN#*",
      ]
      rollback_stage = [
        "dynamodb:DeleteItem LOCK#deploy-stage-churn", "dynamodb:DeleteItem LOCK#deploy-stage-delivery-time",
        "dynamodb:GetItem LOCK#deploy-stage-churn", "dynamodb:GetItem LOCK#deploy-stage-delivery-time", "dynamodb:GetItem RUN#*",
        "dynamodb:PutItem LOCK#deploy-stage-churn", "dynamodb:PutItem LOCK#deploy-stage-delivery-time", "dynamodb:PutItem RUN#*",
        "dynamodb:UpdateItem RUN#*",
      ]
      slack_interactions = [
        "dynamodb:GetItem APPROVAL#*", "dynamodb:GetItem ENV#prod#churn", "dynamodb:GetItem ENV#prod#delivery-time", "dynamodb:GetItem ROLLBACK#*",
        "dynamodb:GetItem RUN#*", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem APPROVAL#*", "dynamodb:UpdateItem ROLLBACK#*",
        "dynamodb:UpdateItem RUN#*",
      ]
      smoke_test_prod = [
        "dynamodb:GetItem RUN#*", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
      smoke_test_stage = [
        "dynamodb:GetItem RUN#*", "dynamodb:PutItem RUN#*", "dynamodb:UpdateItem RUN#*",
      ]
    })
    error_message = "Each function gets exactly the table actions and partition key prefixes it uses."
  }

  assert {
    condition = alltrue(flatten([for d in data.aws_iam_policy_document.lambda : [for s in d.statement :
      length(s.condition) == 1 && alltrue([for c in s.condition : c.test == "ForAllValues:StringLike" && c.variable == "dynamodb:LeadingKeys"])
      if anytrue([for a in s.actions : startswith(a, "dynamodb:")])
    ]]))
    error_message = "Every table statement is conditioned on the partition key (dynamodb:LeadingKeys)."
  }

  assert {
    condition = alltrue(flatten([for d in data.aws_iam_policy_document.lambda : [for s in d.statement :
      (jsonencode(s.actions) == jsonencode(["dynamodb:Query"]) && jsonencode(s.resources) == jsonencode(["arn:aws:dynamodb:us-east-1:111111111111:table/mlops-pipeline/index/gsi1"])) ||
      (!contains(s.actions, "dynamodb:Query") && jsonencode(s.resources) == jsonencode(["arn:aws:dynamodb:us-east-1:111111111111:table/mlops-pipeline"]))
      if anytrue([for a in s.actions : startswith(a, "dynamodb:")])
    ]]))
    error_message = "Items are reached on the table, queries on gsi1 only (no other index, no table query)."
  }
}

run "each_environment_trusts_only_its_own_functions" {
  command = apply

  assert {
    condition = jsonencode(output.deployer_role_arns) == jsonencode({
      prod  = ["arn:aws:iam::111111111111:role/mlops-deploy-prod-lambda", "arn:aws:iam::111111111111:role/mlops-rollback-prod-lambda"]
      stage = ["arn:aws:iam::111111111111:role/mlops-deploy-stage-lambda", "arn:aws:iam::111111111111:role/mlops-rollback-stage-lambda"]
    })
    error_message = "Each target account's deploy role is handed exactly its environment's deploy and rollback roles."
  }

  assert {
    condition = jsonencode(output.smoke_test_role_arns) == jsonencode({
      prod  = ["arn:aws:iam::111111111111:role/mlops-smoke-test-prod-lambda"]
      stage = ["arn:aws:iam::111111111111:role/mlops-smoke-test-stage-lambda"]
    })
    error_message = "Each target account's invoke role is handed exactly its environment's smoke test role."
  }

  assert {
    condition = alltrue([for e in ["stage", "prod"] :
      aws_lambda_function.this["deploy_${e}"].role == aws_iam_role.lambda["deploy_${e}"].arn &&
      aws_lambda_function.this["rollback_${e}"].role == aws_iam_role.lambda["rollback_${e}"].arn &&
      aws_lambda_function.this["smoke_test_${e}"].role == aws_iam_role.lambda["smoke_test_${e}"].arn
    ])
    error_message = "Each environment's functions run as the roles handed to that environment."
  }
}

run "the_codebuild_role_is_an_output" {
  command = apply

  assert {
    condition     = output.codebuild_role_name == aws_iam_role.codebuild.name && output.codebuild_role_arn == aws_iam_role.codebuild.arn && aws_codebuild_project.this.service_role == output.codebuild_role_arn
    error_message = "The module outputs the CodeBuild project's service role (roots attach policies to it by this name)."
  }
}

run "only_report_reads_the_build_logs_of_this_pipelines_codebuild_projects" {
  command = apply

  assert {
    condition = jsonencode([for k, d in data.aws_iam_policy_document.lambda : k if anytrue([for s in d.statement :
      anytrue([for a in s.actions : startswith(a, "logs:") && a != "logs:CreateLogStream" && a != "logs:PutLogEvents"])
    ])]) == jsonencode(["report"])
    error_message = "Only report reads logs (every function writes its own)."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.lambda["report"].statement : {
      actions   = s.actions, resources = s.resources } if contains(s.actions, "logs:GetLogEvents")]) == jsonencode([{
      actions   = ["logs:GetLogEvents"]
      resources = ["arn:aws:logs:us-east-1:111111111111:log-group:/aws/codebuild/mlops-build:log-stream:*", "arn:aws:logs:us-east-1:111111111111:log-group:/aws/codebuild/mlops-train:log-stream:*"]
    }])
    error_message = "report may only GetLogEvents, on the streams of the pipeline's CodeBuild log groups."
  }
}

run "the_training_step_holds_no_pipeline_keys" {
  command = apply

  variables {
    mlflow_credentials_secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow-AbCdEf"
    serving_package_type          = "Image"
  }

  assert {
    condition     = aws_codebuild_project.train.service_role == aws_iam_role.train.arn && aws_iam_role.train.arn != aws_iam_role.codebuild.arn
    error_message = "The training project runs as its own role."
  }

  assert {
    condition     = aws_iam_role.train.tags["mlops:untrusted"] == "true" && try(aws_iam_role.codebuild.tags["mlops:untrusted"], "absent") == "absent"
    error_message = "The training role, and only it, is tagged mlops:untrusted (the local emulator enforces its policy)."
  }

  assert {
    condition     = !aws_codebuild_project.train.environment[0].privileged_mode && alltrue([for e in aws_codebuild_project.train.environment[0].environment_variable : e.type == "PLAINTEXT" && !startswith(e.name, "MLFLOW_") && e.name != "ECR_REPOSITORY_URI"])
    error_message = "The training project gets no secret, no MLflow setting, no ECR and no Docker, even when the trusted project has them."
  }

  assert {
    condition     = anytrue([for e in aws_codebuild_project.this.environment[0].environment_variable : e.type == "SECRETS_MANAGER"]) && aws_codebuild_project.this.environment[0].privileged_mode
    error_message = "(Sanity) the trusted project does get the MLflow credentials and Docker in this configuration."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.train.statement : alltrue([for a in s.actions :
      startswith(a, "logs:") || a == "codecommit:GitPull" || a == "s3:GetObject" || a == "s3:GetObjectVersion" || a == "s3:PutObject" || startswith(a, "kms:")
    ])])
    error_message = "The training role may only log, pull the model code, read the pipeline source, write its output and use the bucket's key: no secretsmanager, ecr, codebuild, states or sts."
  }

  assert {
    condition     = jsonencode(one([for s in data.aws_iam_policy_document.train.statement : s.resources if contains(s.actions, "s3:PutObject")])) == jsonencode(["${module.artifacts_bucket.arn}/train/*"])
    error_message = "The training role writes only under train/ (the training outputs)."
  }

  assert {
    condition     = contains(one([for s in data.aws_iam_policy_document.states.statement : s.resources if s.sid == "RunBuild"]), aws_codebuild_project.train.arn)
    error_message = "The state machine may start the training project."
  }
}

# Rolling prod back by hand (docs/rollback.md): a Slack click claims the offer in slack_interactions,
# which may start the prod rollback function and nothing else; that function reads the MLflow
# credentials (it moves the registry's alias back), stage's rollback does not.
run "only_slack_interactions_starts_the_prod_rollback" {
  command = apply

  assert {
    condition = jsonencode({ for k, d in data.aws_iam_policy_document.lambda : k => [for s in d.statement : { sid = s.sid, actions = s.actions, resources = s.resources } if anytrue([for a in s.actions : startswith(a, "lambda:")])] if anytrue([for s in d.statement : anytrue([for a in s.actions : startswith(a, "lambda:")])]) }) == jsonencode({
      slack_interactions = [{ sid = "StartProdRollback", actions = ["lambda:InvokeFunction"], resources = ["arn:aws:lambda:us-east-1:111111111111:function:mlops-rollback-prod"] }]
    })
    error_message = "Only slack_interactions may call Lambda, and only lambda:InvokeFunction of the prod rollback function (unqualified, no wildcard)."
  }

  assert {
    condition = (
      aws_lambda_function.this["slack_interactions"].environment[0].variables.PROD_ROLLBACK_FUNCTION == aws_lambda_function.this["rollback_prod"].function_name &&
      aws_lambda_function.this["rollback_prod"].function_name == "mlops-rollback-prod" && output.prod_rollback_function_name == "mlops-rollback-prod" &&
      jsonencode([for k, f in aws_lambda_function.this : k if contains(keys(f.environment[0].variables), "PROD_ROLLBACK_FUNCTION")]) == jsonencode(["slack_interactions"])
    )
    error_message = "PROD_ROLLBACK_FUNCTION (slack_interactions only) and the output name the real prod rollback function."
  }

  assert {
    condition = (
      jsonencode(sort([for k, d in data.aws_iam_policy_document.lambda : k if anytrue([for s in d.statement : contains(s.resources, var.mlflow_credentials_secret_arn)])])) == jsonencode(["evaluate", "promote", "request_approval", "rollback_prod"]) &&
      aws_lambda_function.this["rollback_prod"].filename == "registry.zip" && aws_lambda_function.this["rollback_prod"].memory_size == 1024 &&
      aws_lambda_function.this["rollback_stage"].filename == "core.zip" && aws_lambda_function.this["rollback_stage"].memory_size == 256
    )
    error_message = "rollback_prod runs from registry.zip with 1024 MB and reads the MLflow credentials; rollback_stage stays on core.zip without them."
  }

  assert {
    condition = alltrue([for name in ["APPROVERS", "APPROVER_GROUP", "IDENTITY_MAP", "IDENTITY_LOOKUP", "REQUIRED_APPROVALS", "MLFLOW_TRACKING_URI", "MLFLOW_CREDENTIALS_SECRET_ARN"] :
      contains(keys(aws_lambda_function.this["rollback_prod"].environment[0].variables), name) && !contains(keys(aws_lambda_function.this["rollback_stage"].environment[0].variables), name)
    ]) && aws_lambda_function.this["rollback_prod"].environment[0].variables.LOCK_TTL_SECONDS == "900"
    error_message = "rollback_prod gets the approver rules, the identity map and MLflow; rollback_stage none of them."
  }

  assert {
    condition = jsonencode(sort(distinct(flatten([for s in data.aws_iam_policy_document.lambda["rollback_prod"].statement : s.actions])))) == jsonencode(sort([
      "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "kms:Decrypt",
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "secretsmanager:GetSecretValue", "sts:AssumeRole",
    ]))
    error_message = "rollback_prod needs no IAM permission for the caller's identity proof (a signed STS request of the caller's) and no lambda or states action."
  }
}
