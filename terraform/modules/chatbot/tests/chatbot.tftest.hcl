mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mlops-chatbot" }
  }
  mock_resource "aws_chatbot_slack_channel_configuration" {
    defaults = { chat_configuration_arn = "arn:aws:chatbot:us-east-1:111111111111:chat-configuration/slack-channel/mlops-pipeline" }
  }
}

# The provider the channel configuration is created with (the module's aws.chatbot).
mock_provider "aws" {
  alias = "chatbot"

  mock_data "aws_region" {
    defaults = { name = "us-west-2" }
  }
  mock_resource "aws_chatbot_slack_channel_configuration" {
    defaults = { chat_configuration_arn = "arn:aws:chatbot:us-west-2:111111111111:chat-configuration/slack-channel/mlops-pipeline" }
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

run "configuration_in_a_chatbot_region" {
  command = apply

  assert {
    condition     = strcontains(output.configuration_arn, ":us-west-2:") && output.region == "us-west-2"
    error_message = "The channel configuration is created with the aws.chatbot provider (us-west-2), not the default one (us-east-1)."
  }
}

# Handed a provider in a region without the Chatbot API (us-east-1), the module refuses.
run "rejects_a_region_without_the_chatbot_api" {
  command = plan

  providers = {
    aws         = aws
    aws.chatbot = aws
  }

  expect_failures = [aws_chatbot_slack_channel_configuration.this]
}
