output "function_name" {
  description = "Name of the inference Lambda."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the inference Lambda."
  value       = aws_lambda_function.this.arn
}

output "alias_name" {
  description = "Alias the pipeline moves."
  value       = aws_lambda_alias.live.name
}

output "alias_arn" {
  description = "ARN of the alias."
  value       = aws_lambda_alias.live.arn
}

output "deploy_role_arn" {
  description = "Role the pipeline assumes to deploy (goes into the pipeline's deploy_targets)."
  value       = aws_iam_role.deploy.arn
}

output "execution_role_arn" {
  description = "Execution role of the inference Lambda."
  value       = aws_iam_role.execution.arn
}

output "function_url" {
  description = "Function URL of the alias (IAM auth), when enabled."
  value       = var.function_url ? aws_lambda_function_url.live[0].function_url : null
}

output "deploy_target" {
  description = "This account's entry of the pipeline's deploy_targets."
  value = {
    role_arn      = aws_iam_role.deploy.arn
    function_name = aws_lambda_function.this.function_name
    alias         = aws_lambda_alias.live.name
  }
}
