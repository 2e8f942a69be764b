output "configuration_arn" {
  description = "ARN of the AWS Chatbot Slack channel configuration."
  value       = aws_chatbot_slack_channel_configuration.this.chat_configuration_arn
}

output "role_arn" {
  description = "Role of the channel configuration (no permissions)."
  value       = aws_iam_role.this.arn
}

output "region" {
  description = "Region of the channel configuration (the aws.chatbot provider's)."
  value       = data.aws_region.chatbot.name
}
