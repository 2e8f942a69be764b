data "aws_partition" "this" {}

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
  configuration_name    = "${var.name_prefix}-pipeline"
  iam_role_arn          = aws_iam_role.this.arn
  slack_team_id         = var.slack_team_id
  slack_channel_id      = var.slack_channel_id
  sns_topic_arns        = var.sns_topic_arns
  guardrail_policy_arns = ["arn:${data.aws_partition.this.partition}:iam::aws:policy/AWSDenyAll"]
  logging_level         = var.logging_level
  tags                  = var.tags
}
