data "aws_partition" "this" {}

# The region of the provider passed as aws.chatbot: it must have the Chatbot API.
data "aws_region" "chatbot" {
  provider = aws.chatbot
}

locals {
  api_regions = jsondecode(file("${path.module}/api_regions.json")).regions
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
  }
}

# The channel only relays notifications: the role has no permissions and the guardrail
# denies everything, so nobody can run AWS commands from Slack through it.
resource "aws_iam_role" "this" {
  name               = "${var.name_prefix}-chatbot"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_chatbot_slack_channel_configuration" "this" {
  provider = aws.chatbot

  configuration_name    = "${var.name_prefix}-pipeline"
  iam_role_arn          = aws_iam_role.this.arn
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
  sns_topic_arns        = var.sns_topic_arns
  guardrail_policy_arns = ["arn:${data.aws_partition.this.partition}:iam::aws:policy/AWSDenyAll"]
  logging_level         = var.logging_level
  tags                  = var.tags

  lifecycle {
    precondition {
      condition     = contains(local.api_regions, data.aws_region.chatbot.name)
      error_message = "The aws.chatbot provider is in ${data.aws_region.chatbot.name}, which has no AWS Chatbot API; pass a provider in one of ${join(", ", local.api_regions)}."
    }
  }
}
