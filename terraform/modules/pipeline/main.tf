data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  region     = data.aws_region.this.name
  partition  = data.aws_partition.this.partition

  state_machine_name = "${var.name_prefix}-pipeline"
  # Built from the name (not the resource) so IAM policies can name it without a dependency cycle.
  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"

  # The CodeCommit repository the trigger listens to (null with a GitHub or GitLab source).
  repository_arn = local.webhook_enabled ? null : (local.create_codecommit ? aws_codecommit_repository.this[0].arn : var.external_repository_arn)

  build_source_key = "pipeline/pipeline-src.zip"
}

# One customer-managed key for the tooling account's data: table, bucket, secret, topic,
# logs, ECR, CodeBuild artifacts and Lambda environment variables.
resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: pipeline data (table, bucket, secrets, topic, logs)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}-pipeline"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_dynamodb_table" "this" {
  name                        = "${var.name_prefix}-pipeline"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "gsi1pk"
    type = "S"
  }

  attribute {
    name = "gsi1sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags
}

# Two Slack secrets: every function that posts reads the bot token; only slack_interactions
# reads the signing secret, so no other function can forge a Slack request.
resource "aws_secretsmanager_secret" "slack" {
  name        = "${var.name_prefix}/slack"
  description = "Slack bot token: {\"bot_token\"}. The value is set outside Terraform."
  kms_key_id  = aws_kms_key.this.arn
  #checkov:skip=CKV2_AWS_57:Slack tokens are rotated in Slack's app settings, not by a rotation Lambda; the value is set outside Terraform.
  tags = var.tags
}

resource "aws_secretsmanager_secret" "slack_signing" {
  name        = "${var.name_prefix}/slack-signing-secret"
  description = "Slack signing secret: {\"signing_secret\"}, read only by slack_interactions. The value is set outside Terraform."
  kms_key_id  = aws_kms_key.this.arn
  #checkov:skip=CKV2_AWS_57:The signing secret is rotated in Slack's app settings, not by a rotation Lambda; the value is set outside Terraform.
  tags = var.tags
}

resource "aws_secretsmanager_secret_policy" "slack_signing" {
  secret_arn = aws_secretsmanager_secret.slack_signing.arn
  policy     = data.aws_iam_policy_document.slack_signing.json
}

resource "aws_sns_topic" "events" {
  name              = "${var.name_prefix}-pipeline-events"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "events" {
  arn    = aws_sns_topic.events.arn
  policy = data.aws_iam_policy_document.sns.json
}
