# Push to the branch -> one execution, with the normalised input
# {commit, repository, branch, author, pushed_at}: author is the principal that pushed (the
# event's callerUserArn) and pushed_at the event's time. The pipeline trusts these two for who
# pushed and in which order, never the git author or commit date written into the commit.
# CodeCommit only: a GitHub or GitLab source starts the pipeline through the webhook (webhook.tf).
resource "aws_cloudwatch_event_rule" "trigger" {
  count = local.webhook_enabled ? 0 : 1

  name        = "${var.name_prefix}-pipeline-trigger"
  description = "Pushes to ${var.branch} of the model repository start the pipeline."

  event_pattern = jsonencode({
    source      = ["aws.codecommit"]
    detail-type = ["CodeCommit Repository State Change"]
    resources   = [local.repository_arn]
    detail = {
      event         = ["referenceCreated", "referenceUpdated"]
      referenceType = ["branch"]
      referenceName = [var.branch]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "trigger" {
  count = local.webhook_enabled ? 0 : 1

  rule     = aws_cloudwatch_event_rule.trigger[0].name
  arn      = aws_sfn_state_machine.this.arn
  role_arn = aws_iam_role.events.arn

  input_transformer {
    input_paths = {
      commit     = "$.detail.commitId"
      repository = "$.detail.repositoryName"
      branch     = "$.detail.referenceName"
      author     = "$.detail.callerUserArn"
      pushed_at  = "$.time"
    }
    input_template = <<-EOT
      {"commit": <commit>, "repository": <repository>, "branch": <branch>, "author": <author>, "pushed_at": <pushed_at>}
    EOT
  }
}

# Execution status changes -> SNS -> notifier Lambda (and optionally AWS Chatbot).
resource "aws_cloudwatch_event_rule" "status" {
  name        = "${var.name_prefix}-pipeline-status"
  description = "Status changes of the pipeline's executions."

  event_pattern = jsonencode({
    source      = ["aws.states"]
    detail-type = ["Step Functions Execution Status Change"]
    detail = {
      stateMachineArn = [local.state_machine_arn]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "status" {
  rule = aws_cloudwatch_event_rule.status.name
  arn  = aws_sns_topic.events.arn
}

resource "aws_sns_topic_subscription" "notify" {
  topic_arn = aws_sns_topic.events.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.this["notify"].arn
}

resource "aws_lambda_permission" "notify" {
  statement_id  = "AllowPipelineTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["notify"].function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.events.arn
}
