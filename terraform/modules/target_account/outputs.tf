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

output "invoke_role_arn" {
  description = "Role the pipeline's smoke test assumes to invoke the alias (goes into the pipeline's deploy_targets)."
  value       = aws_iam_role.invoke.arn
}

output "trust_policies" {
  description = "The rendered trust policies (JSON) of the deploy role and the invoke role: who may assume them."
  value = {
    deploy = data.aws_iam_policy_document.deploy_assume.json
    invoke = data.aws_iam_policy_document.invoke_assume.json
  }
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
  description = "This account's entry of the pipeline's deploy_targets (names only: the pipeline's grants to the deploy role must not wait for the function, which waits for them)."
  value = {
    role_arn        = aws_iam_role.deploy.arn
    invoke_role_arn = aws_iam_role.invoke.arn
    function_name   = local.function_name
    alias           = var.alias_name
  }
}

output "serving" {
  description = "What the inference function runs: package_type, architectures and whether SnapStart is on."
  value = {
    package_type  = aws_lambda_function.this.package_type
    architectures = aws_lambda_function.this.architectures
    snapstart     = length(aws_lambda_function.this.snap_start) > 0
  }
}
