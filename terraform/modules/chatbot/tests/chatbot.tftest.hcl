mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mlops-chatbot" }
  }
}

variables {
  slack_team_id    = "T0123456789"
  slack_channel_id = "C0123456789"
  sns_topic_arns   = ["arn:aws:sns:us-east-1:111111111111:mlops-pipeline-events"]
}

run "notifications_only" {
  command = apply

  assert {
    condition     = jsonencode(aws_chatbot_slack_channel_configuration.this.guardrail_policy_arns) == jsonencode(["arn:aws:iam::aws:policy/AWSDenyAll"])
    error_message = "The guardrail denies every AWS action from Slack."
  }

  assert {
    condition     = jsonencode(aws_chatbot_slack_channel_configuration.this.sns_topic_arns) == jsonencode(var.sns_topic_arns)
    error_message = "The channel relays the pipeline topic."
  }
}

run "rejects_bad_channel" {
  command = plan

  variables {
    slack_channel_id = "#general"
  }

  expect_failures = [var.slack_channel_id]
}
