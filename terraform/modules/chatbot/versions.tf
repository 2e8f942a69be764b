terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
      # The Chatbot API exists in a few regions only (api_regions.json): the channel
      # configuration gets its own provider there; the IAM role uses the default one.
      configuration_aliases = [aws.chatbot]
    }
  }
}
