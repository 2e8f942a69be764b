output "table_name" {
  description = "MLOPS_TABLE."
  value       = module.pipeline.table_name
}

output "state_machine_arn" {
  description = "The pipeline's state machine."
  value       = module.pipeline.state_machine_arn
}

output "train_project_name" {
  description = "CodeBuild project of the untrusted training step."
  value       = module.pipeline.train_project_name
}

output "codebuild_project_name" {
  description = "CodeBuild project (run by the emulator's CodeBuild runtime)."
  value       = module.pipeline.codebuild_project_name
}

output "repository_arn" {
  description = "CodeCommit repository the trigger listens to."
  value       = module.pipeline.repository_arn
}

output "repository_name" {
  description = "Name of the model code repository."
  value       = split(":", module.pipeline.repository_arn)[5]
}

output "ecr_repository_url" {
  description = "Serving image repository."
  value       = module.pipeline.ecr_repository_url
}

output "artifacts_bucket" {
  description = "Artifacts bucket."
  value       = module.pipeline.artifacts_bucket
}

output "slack_secret_arn" {
  description = "Secret {bot_token} to fill."
  value       = module.pipeline.slack_secret_arn
}

output "slack_signing_secret_arn" {
  description = "Secret {signing_secret} to fill (read by slack_interactions only)."
  value       = module.pipeline.slack_signing_secret_arn
}

output "slack_request_url" {
  description = "Slack interactivity URL of the emulated HTTP API."
  value       = module.pipeline.slack_request_url
}

output "sns_topic_arn" {
  description = "Execution status topic."
  value       = module.pipeline.sns_topic_arn
}

output "function_names" {
  description = "Pipeline Lambda names by function (deploy_stage, deploy_prod, ...)."
  value       = module.pipeline.function_names
}

output "function_arns" {
  description = "Pipeline Lambda ARNs by function (deploy_stage, deploy_prod, ...)."
  value       = module.pipeline.function_arns
}

output "deploy_targets" {
  description = "deploy_targets as given to the pipeline: per environment the roles, the alias and functions = { <model> = { function_name, smoke_max_latency_ms } }."
  value = {
    stage = module.stage.deploy_target
    prod  = module.prod.deploy_target
  }
}

output "declared_models" {
  description = "The models the pipeline trains, builds and deploys (DECLARED_MODELS)."
  value       = module.pipeline.declared_models
}

output "prod_rollback_function_name" {
  description = "The prod rollback function (mlops-pipeline rollback --env prod --function NAME, or MLOPS_PROD_ROLLBACK_FUNCTION): grant lambda:InvokeFunction on it to the approvers' role (docs/rollback.md)."
  value       = module.pipeline.prod_rollback_function_name
}
