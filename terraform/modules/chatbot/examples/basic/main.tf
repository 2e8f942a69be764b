# Relay one SNS topic (us-east-1) into a Slack channel; the channel configuration lives in a
# region with the AWS Chatbot API (us-west-2). Also a test fixture.
provider "aws" {
  region = "us-east-1"
}

provider "aws" {
  alias  = "chatbot"
  region = "us-west-2"
}

module "chatbot" {
  source    = "../.."
  providers = { aws = aws, aws.chatbot = aws.chatbot }

  slack_team_id    = "T0123456789"
  slack_channel_id = "C0123456789"
  sns_topic_arns   = ["arn:aws:sns:us-east-1:111111111111:mlops-pipeline-events"]
}

output "configuration_arn" {
  description = "Channel configuration."
  value       = module.chatbot.configuration_arn
}
