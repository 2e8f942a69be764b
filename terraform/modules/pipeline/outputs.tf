output "table_name" {
  description = "DynamoDB table (MLOPS_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.this.arn
}

output "state_machine_arn" {
  description = "ARN of the pipeline state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the pipeline state machine."
  value       = aws_sfn_state_machine.this.name
}

output "codebuild_project_name" {
  description = "CodeBuild project of the trusted registration step (`mlops-pipeline register`)."
  value       = aws_codebuild_project.this.name
}

output "train_project_name" {
  description = "CodeBuild project of the untrusted training step (`mlops-pipeline train`): no secrets, no MLflow, no ECR."
  value       = aws_codebuild_project.train.name
}

output "train_role_name" {
  description = "Service role of the training project (it may write only the training output; tagged `mlops:untrusted = \"true\"`)."
  value       = aws_iam_role.train.name
}

output "codebuild_role_name" {
  description = "Service role of the CodeBuild project (attach policies the build needs, e.g. MLflow's artifact_client_policy_arn)."
  value       = aws_iam_role.codebuild.name
}

output "codebuild_role_arn" {
  description = "ARN of the CodeBuild project's service role."
  value       = aws_iam_role.codebuild.arn
}

output "ecr_repository_url" {
  description = "ECR repository of the serving images."
  value       = aws_ecr_repository.serving.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the serving image repository (target_account's image_repository_arn)."
  value       = aws_ecr_repository.serving.arn
}

output "artifacts_bucket" {
  description = "Artifacts bucket (pipeline source for CodeBuild, serving zips)."
  value       = module.artifacts_bucket.id
}

output "serving_artifacts" {
  description = "Where the serving zips are and what reads them: the bucket's ARN, the key prefix and the KMS key (target_account's artifacts_bucket_arn, artifacts_key_prefix, artifacts_kms_key_arn)."
  value = {
    bucket_arn  = module.artifacts_bucket.arn
    key_prefix  = local.serving_key_prefix
    kms_key_arn = aws_kms_key.this.arn
  }
}

output "repository_arn" {
  description = "ARN of the model code repository the trigger listens to."
  value       = local.repository_arn
}

output "repository_clone_url_http" {
  description = "HTTPS clone URL of the model code repository (null when it lives elsewhere)."
  value       = local.create_codecommit ? aws_codecommit_repository.this[0].clone_url_http : null
}

output "git_webhook_url" {
  description = "With git_source github or gitlab: the push webhook's URL, for the repository's webhook settings (content type application/json, push events)."
  value       = local.webhook_enabled ? "${aws_apigatewayv2_api.slack[0].api_endpoint}/git/webhook" : null
}

output "git_webhook_secret_arn" {
  description = "With git_source github or gitlab: the Secrets Manager secret to fill with {\"secret\"}, the same value as the webhook's secret (GitHub) or secret token (GitLab); only git_webhook reads it."
  value       = one(aws_secretsmanager_secret.git_webhook[*].arn)
}

output "codeconnections_connection_arn" {
  description = "With git_source github or gitlab: the CodeConnections connection both CodeBuild projects clone through (PENDING until its handshake is completed in the console; `mlops-pipeline doctor` checks it)."
  value       = one(aws_codeconnections_connection.this[*].arn)
}

output "slack_request_url" {
  description = "Paste into the Slack app's Interactivity Request URL."
  value       = var.create_slack_api ? "${aws_apigatewayv2_api.slack[0].api_endpoint}/slack/interactions" : null
}

output "slack_secret_arn" {
  description = "Secrets Manager secret to fill with {\"bot_token\"} (every function that posts to Slack reads it)."
  value       = aws_secretsmanager_secret.slack.arn
}

output "slack_signing_secret_arn" {
  description = "Secrets Manager secret to fill with {\"signing_secret\"} (only slack_interactions reads it)."
  value       = aws_secretsmanager_secret.slack_signing.arn
}

output "sns_topic_arn" {
  description = "SNS topic of execution status changes (AWS Chatbot subscribes here)."
  value       = aws_sns_topic.events.arn
}

output "kms_key_arn" {
  description = "The pipeline's customer-managed KMS key."
  value       = aws_kms_key.this.arn
}

output "function_names" {
  description = "Pipeline Lambda names by function (deploy, smoke_test and rollback once per environment: deploy_stage, deploy_prod, ...)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Pipeline Lambda ARNs by function."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "lambda_role_arns" {
  description = "Execution role ARNs by function."
  value       = { for k, r in aws_iam_role.lambda : k => r.arn }
}

output "deployer_role_arns" {
  description = "By environment (stage, prod): the roles of that environment's deploy and rollback functions, the only ones its target account's deploy role may trust (target_account's deployer_role_arns)."
  value       = { for e in local.environments : e => [aws_iam_role.lambda["deploy_${e}"].arn, aws_iam_role.lambda["rollback_${e}"].arn] }
}

output "smoke_test_role_arns" {
  description = "By environment (stage, prod): the role of that environment's smoke test function, the only one its target account's invoke role may trust (target_account's smoke_test_role_arns)."
  value       = { for e in local.environments : e => [aws_iam_role.lambda["smoke_test_${e}"].arn] }
}

output "trigger_rule_name" {
  description = "EventBridge rule that starts the pipeline on a CodeCommit push (null with a GitHub or GitLab source)."
  value       = one(aws_cloudwatch_event_rule.trigger[*].name)
}

output "artifact_access_ids" {
  description = "IDs of the grants that let the stage and prod accounts read serving artifacts (the serving repository policy, the artifacts bucket's policy, the KMS key and its policy): target_account's artifact_access_ids, so the functions wait for them."
  value       = [aws_ecr_repository_policy.serving.id, module.artifacts_bucket.policy_id, aws_kms_key.this.key_id]
}

output "build_settings" {
  description = "What the CodeBuild project was given (for checks that one setting drives the architecture): the build's ARCHITECTURE and SERVING_PACKAGE_TYPE, its container type and image, privileged mode."
  value = {
    architecture    = one([for e in aws_codebuild_project.this.environment[0].environment_variable : e.value if e.name == "ARCHITECTURE"])
    package_type    = one([for e in aws_codebuild_project.this.environment[0].environment_variable : e.value if e.name == "SERVING_PACKAGE_TYPE"])
    type            = aws_codebuild_project.this.environment[0].type
    image           = aws_codebuild_project.this.environment[0].image
    privileged_mode = aws_codebuild_project.this.environment[0].privileged_mode
  }
}

output "function_architectures" {
  description = "Architectures of each pipeline Lambda, by function."
  value       = { for k, f in aws_lambda_function.this : k => f.architectures }
}

output "declared_models" {
  description = "The declared models (sorted): the models of deploy_targets' functions, given to the build, the training step and evaluate as DECLARED_MODELS."
  value       = local.declared_models
}

output "prod_rollback_function_name" {
  description = "The prod rollback function: what `mlops-pipeline rollback --env prod --function` names (MLOPS_PROD_ROLLBACK_FUNCTION) and what approvers need lambda:InvokeFunction on (docs/rollback.md)."
  value       = aws_lambda_function.this["rollback_prod"].function_name
}

output "rollout_settings" {
  description = "The ROLLOUT_* settings deploy_prod runs the gradual rollout with (from rollout)."
  value       = local.rollout_env
}
