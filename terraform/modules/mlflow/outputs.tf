output "url" {
  description = "MLflow tracking URI and UI (MLFLOW_TRACKING_URI)."
  value       = local.url
}

output "admin_secret_arn" {
  description = "Secret with the MLflow admin user {username, password}."
  value       = aws_secretsmanager_secret.admin.arn
}

output "pipeline_credentials_secret_arn" {
  description = "Secret with the pipeline's MLflow user (the pipeline module's mlflow_credentials_secret_arn)."
  value       = aws_secretsmanager_secret.pipeline.arn
}

output "image_repository_url" {
  description = "Push the docker/mlflow image here, tagged image_tag."
  value       = aws_ecr_repository.this.repository_url
}

output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service (scale with desired_count)."
  value       = aws_ecs_service.this.name
}

output "database_endpoint" {
  description = "Aurora writer endpoint."
  value       = aws_rds_cluster.this.endpoint
}

output "artifact_bucket" {
  description = "S3 bucket of MLflow artifacts."
  value       = module.artifacts_bucket.id
}
