output "slack_request_url" {
  description = "Slack app > Interactivity & Shortcuts > Request URL."
  value       = module.pipeline.slack_request_url
}

output "slack_secret_arn" {
  description = "Put {\"bot_token\"} here (aws secretsmanager put-secret-value)."
  value       = module.pipeline.slack_secret_arn
}

output "slack_signing_secret_arn" {
  description = "Put {\"signing_secret\"} here (aws secretsmanager put-secret-value); only slack_interactions reads it."
  value       = module.pipeline.slack_signing_secret_arn
}

output "repository_clone_url" {
  description = "git remote of the model code (git-remote-codecommit or HTTPS with credentials)."
  value       = module.pipeline.repository_clone_url_http
}

output "mlflow_url" {
  description = "MLflow UI and tracking URI (log in with the admin secret)."
  value       = module.mlflow.url
}

output "mlflow_admin_secret_arn" {
  description = "Secret with the MLflow admin user."
  value       = module.mlflow.admin_secret_arn
}

output "mlflow_image_repository_url" {
  description = "Push the docker/mlflow image here."
  value       = module.mlflow.image_repository_url
}

output "serving_repository_url" {
  description = "ECR repository of the serving images (serving_package_type Image: push the placeholder image here first)."
  value       = module.pipeline.ecr_repository_url
}

output "state_machine_arn" {
  description = "The pipeline's state machine."
  value       = module.pipeline.state_machine_arn
}

output "inference_functions" {
  description = "Inference functions (per declared model) and alias per environment."
  value = {
    stage = module.stage.deploy_target
    prod  = module.prod.deploy_target
  }
}

output "declared_models" {
  description = "The models the pipeline trains, builds and deploys (DECLARED_MODELS)."
  value       = module.pipeline.declared_models
}

output "git_webhook_url" {
  description = "With git_source github or gitlab: the push webhook's URL for the repository's webhook settings."
  value       = module.pipeline.git_webhook_url
}

output "git_webhook_secret_arn" {
  description = "With git_source github or gitlab: the secret to fill with {\"secret\"} (the webhook's secret or token)."
  value       = module.pipeline.git_webhook_secret_arn
}

output "codeconnections_connection_arn" {
  description = "With git_source github or gitlab: the connection to complete once in the console (docs/deploy-aws.md)."
  value       = module.pipeline.codeconnections_connection_arn
}

output "prod_rollback_function_name" {
  description = "The prod rollback function (mlops-pipeline rollback --env prod --function NAME, or MLOPS_PROD_ROLLBACK_FUNCTION): grant lambda:InvokeFunction on it to the approvers' role (docs/rollback.md)."
  value       = module.pipeline.prod_rollback_function_name
}
