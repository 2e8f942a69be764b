# Run with credentials of the tooling account; Terraform assumes a role in stage and prod.
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "stage"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.stage_account_id}:role/${var.target_admin_role_name}"
    session_name = "mlops-terraform"
  }

  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "prod"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.prod_account_id}:role/${var.target_admin_role_name}"
    session_name = "mlops-terraform"
  }

  default_tags {
    tags = var.tags
  }
}

# The AWS Chatbot channel configuration (module.chatbot): the Chatbot API exists only in a few
# regions (terraform/modules/chatbot/api_regions.json), usually not the pipeline's. Same account.
provider "aws" {
  alias  = "chatbot"
  region = var.chatbot_region

  default_tags {
    tags = var.tags
  }
}
