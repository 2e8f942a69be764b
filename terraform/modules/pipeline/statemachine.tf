resource "aws_cloudwatch_log_group" "states" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days) to keep the idle cost low.
  tags = var.tags
}

locals {
  asl_path = var.state_machine_template_path == null ? "${path.module}/../../../statemachine/pipeline.asl.json" : var.state_machine_template_path
  asl_values = merge(
    { for f in local.asl_functions : "${f}_function_arn" => aws_lambda_function.this[f].arn },
    {
      codebuild_project        = aws_codebuild_project.this.name
      train_project            = aws_codebuild_project.train.name
      approval_timeout_seconds = tostring(var.approval_timeout_seconds)
    },
  )
}

resource "aws_sfn_state_machine" "this" {
  name     = local.state_machine_name
  role_arn = aws_iam_role.states.arn
  #checkov:skip=CKV_AWS_285:Logging is on at level ALL without execution data, which would write approval task tokens into the logs.
  type = "STANDARD"

  # The single source of the workflow; placeholders are listed in docs/contracts.md.
  definition = templatefile(local.asl_path, local.asl_values)

  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.states.arn}:*"
    level           = "ALL"
    # Execution data would put approval task tokens into the logs.
    include_execution_data = false
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.states]
}
