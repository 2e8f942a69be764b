variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "slack_team_id" {
  description = "Slack workspace (team) id, authorised once in the AWS Chatbot console."
  type        = string

  validation {
    condition     = can(regex("^[A-Z0-9]{9,11}$", var.slack_team_id))
    error_message = "slack_team_id must be a Slack team id such as T0123456789."
  }
}

variable "slack_channel_id" {
  description = "Slack channel id that receives the pipeline's execution status changes."
  type        = string

  validation {
    condition     = can(regex("^[CG][A-Z0-9]{8,10}$", var.slack_channel_id))
    error_message = "slack_channel_id must be a Slack channel id such as C0123456789."
  }
}

variable "sns_topic_arns" {
  description = "SNS topics to relay (the pipeline module's sns_topic_arn)."
  type        = list(string)
}

variable "logging_level" {
  description = "AWS Chatbot logging level: ERROR, INFO or NONE."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ERROR", "INFO", "NONE"], var.logging_level)
    error_message = "logging_level must be ERROR, INFO or NONE."
  }
}
