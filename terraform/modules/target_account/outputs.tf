output "function_name" {
  description = "Name of each model's inference Lambda, by model."
  value       = { for model, f in aws_lambda_function.this : model => f.function_name }
}

output "function_arn" {
  description = "ARN of each model's inference Lambda, by model."
  value       = { for model, f in aws_lambda_function.this : model => f.arn }
}

output "alias_name" {
  description = "Alias the pipeline moves (the same on every function)."
  value       = var.alias_name
}

output "alias_arn" {
  description = "ARN of each model's alias, by model."
  value       = { for model, a in aws_lambda_alias.live : model => a.arn }
}

output "deploy_role_arn" {
  description = "Role the pipeline assumes to deploy (goes into the pipeline's deploy_targets)."
  value       = aws_iam_role.deploy.arn
}

output "invoke_role_arn" {
  description = "Role the pipeline's smoke test assumes to invoke the aliases (goes into the pipeline's deploy_targets)."
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
  description = "Execution role of each model's inference Lambda, by model."
  value       = { for model, r in aws_iam_role.execution : model => r.arn }
}

output "function_url" {
  description = "Function URL (IAM auth) of each model's alias, by model, for the models that have one."
  value       = { for model, u in aws_lambda_function_url.live : model => u.function_url }
}

output "deploy_target" {
  description = "This account's entry of the pipeline's deploy_targets: the roles, the alias and functions = { <model> = { function_name, smoke_max_latency_ms } } (names only: the pipeline's grants to the deploy role must not wait for the functions, which wait for them)."
  value = {
    role_arn        = aws_iam_role.deploy.arn
    invoke_role_arn = aws_iam_role.invoke.arn
    alias           = var.alias_name
    external_id     = var.external_id
    functions = {
      for model, f in local.functions : model => {
        function_name        = f.function_name
        smoke_max_latency_ms = f.smoke_max_latency_ms
      }
    }
  }
}

output "serving" {
  description = "What the inference functions run: package_type, architectures and whether SnapStart is on (the same for every function)."
  value = {
    package_type  = one(distinct([for f in aws_lambda_function.this : f.package_type]))
    architectures = distinct(flatten([for f in aws_lambda_function.this : f.architectures]))
    snapstart     = alltrue([for f in aws_lambda_function.this : length(f.snap_start) > 0])
  }
}
