# Relay one SNS topic into a Slack channel; also a test fixture.
provider "aws" {
  region = "us-east-1"
}

module "chatbot" {
  source = "../.."

  slack_team_id    = "T0123456789"
  slack_channel_id = "C0123456789"
  sns_topic_arns   = ["arn:aws:sns:us-east-1:111111111111:mlops-pipeline-events"]
}

output "configuration_arn" {
  description = "Channel configuration."
  value       = module.chatbot.configuration_arn
}
