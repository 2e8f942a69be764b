output "url" {
  description = "MLflow tracking URI and UI (MLFLOW_TRACKING_URI)."
  value       = local.url
}

output "admin_secret_arn" {
  description = "Secret with the MLflow admin user {username, password} (and the server's Flask secret key, secret_key)."
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

output "artifact_client_policy_arn" {
  description = "IAM policy to attach to the roles of MLflow clients that log or read artifacts (the pipeline's CodeBuild role): they use S3 directly."
  value       = aws_iam_policy.artifact_clients.arn
}

output "database_secret_arn" {
  description = "RDS-managed secret of the database master user (rotated by RDS; the server reads it per new connection)."
  value       = aws_rds_cluster.this.master_user_secret[0].secret_arn
}
