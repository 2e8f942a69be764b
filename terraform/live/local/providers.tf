# Every provider talks to the emulator. The tooling account's credentials come from the
# environment (the emulator's admin user of 111111111111); stage and prod are reached
# through STS AssumeRole exactly like the AWS root, and the provider resolves every
# account id through STS against the emulator.
locals {
  endpoints = {
    apigatewayv2   = var.endpoint_url
    codebuild      = var.endpoint_url
    codecommit     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ecr            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    s3             = var.endpoint_url
    secretsmanager = var.endpoint_url
    sfn            = var.endpoint_url
    sns            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

provider "aws" {
  region                  = var.region
  s3_use_path_style       = true
  skip_metadata_api_check = true

  endpoints {
    apigatewayv2   = local.endpoints.apigatewayv2
    codebuild      = local.endpoints.codebuild
    codecommit     = local.endpoints.codecommit
    dynamodb       = local.endpoints.dynamodb
    ecr            = local.endpoints.ecr
    events         = local.endpoints.events
    iam            = local.endpoints.iam
    kms            = local.endpoints.kms
    lambda         = local.endpoints.lambda
    logs           = local.endpoints.logs
    s3             = local.endpoints.s3
    secretsmanager = local.endpoints.secretsmanager
    sfn            = local.endpoints.sfn
    sns            = local.endpoints.sns
    sts            = local.endpoints.sts
  }
}

provider "aws" {
  alias                   = "stage"
  region                  = var.region
  s3_use_path_style       = true
  skip_metadata_api_check = true

  assume_role {
    role_arn     = "arn:aws:iam::${var.stage_account_id}:role/${var.target_admin_role_name}"
    session_name = "mlops-terraform"
  }

  endpoints {
    apigatewayv2   = local.endpoints.apigatewayv2
    codebuild      = local.endpoints.codebuild
    codecommit     = local.endpoints.codecommit
    dynamodb       = local.endpoints.dynamodb
    ecr            = local.endpoints.ecr
    events         = local.endpoints.events
    iam            = local.endpoints.iam
    kms            = local.endpoints.kms
    lambda         = local.endpoints.lambda
    logs           = local.endpoints.logs
    s3             = local.endpoints.s3
    secretsmanager = local.endpoints.secretsmanager
    sfn            = local.endpoints.sfn
    sns            = local.endpoints.sns
    sts            = local.endpoints.sts
  }
}

provider "aws" {
  alias                   = "prod"
  region                  = var.region
  s3_use_path_style       = true
  skip_metadata_api_check = true

  assume_role {
    role_arn     = "arn:aws:iam::${var.prod_account_id}:role/${var.target_admin_role_name}"
    session_name = "mlops-terraform"
  }

  endpoints {
    apigatewayv2   = local.endpoints.apigatewayv2
    codebuild      = local.endpoints.codebuild
    codecommit     = local.endpoints.codecommit
    dynamodb       = local.endpoints.dynamodb
    ecr            = local.endpoints.ecr
    events         = local.endpoints.events
    iam            = local.endpoints.iam
    kms            = local.endpoints.kms
    lambda         = local.endpoints.lambda
    logs           = local.endpoints.logs
    s3             = local.endpoints.s3
    secretsmanager = local.endpoints.secretsmanager
    sfn            = local.endpoints.sfn
    sns            = local.endpoints.sns
    sts            = local.endpoints.sts
  }
}
