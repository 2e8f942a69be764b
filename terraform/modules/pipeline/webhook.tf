# A GitHub or GitLab source (git_source): the host's push webhook starts the pipeline (POST
# /git/webhook on the HTTP API -> git_webhook, which verifies the signature before it parses
# anything), and CodeBuild clones through an AWS CodeConnections connection. CodeCommit's
# EventBridge rule and repository exist only with git_source = "codecommit" (events.tf, codebuild.tf).

locals {
  git_hosts = {
    github = { provider_type = "GitHub", url = "https://github.com", codebuild_type = "GITHUB" }
    gitlab = { provider_type = "GitLab", url = "https://gitlab.com", codebuild_type = "GITLAB" }
  }
  git_host = local.webhook_enabled ? local.git_hosts[var.git_source] : null
}

# Created PENDING: one person completes the handshake with the host in the console once
# (docs/deploy-aws.md); `mlops-pipeline doctor` checks that it is AVAILABLE.
resource "aws_codeconnections_connection" "this" {
  count = local.webhook_enabled ? 1 : 0

  name          = "${var.name_prefix}-${var.git_source}"
  provider_type = local.git_host.provider_type
  tags          = var.tags
}

resource "aws_secretsmanager_secret" "git_webhook" {
  count = local.webhook_enabled ? 1 : 0

  name        = "${var.name_prefix}/git-webhook-secret"
  description = "The ${var.git_source} webhook's secret: {\"secret\"}, read only by git_webhook. The value is set outside Terraform."
  kms_key_id  = aws_kms_key.this.arn
  #checkov:skip=CKV2_AWS_57:The webhook secret is rotated by setting a new one on the host and here together, not by a rotation Lambda; the value is set outside Terraform.
  tags = var.tags
}

data "aws_iam_policy_document" "git_webhook_secret" {
  count = local.webhook_enabled ? 1 : 0

  statement {
    # Whatever identity policies say, only git_webhook reads the value: whoever holds it can
    # start the pipeline with any commit of the repository.
    sid       = "OnlyTheWebhookFunctionReads"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.lambda["git_webhook"].arn]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "git_webhook" {
  count = local.webhook_enabled ? 1 : 0

  secret_arn = aws_secretsmanager_secret.git_webhook[0].arn
  policy     = data.aws_iam_policy_document.git_webhook_secret[0].json
}

resource "aws_apigatewayv2_integration" "git_webhook" {
  count = local.webhook_enabled ? 1 : 0

  api_id                 = aws_apigatewayv2_api.slack[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this["git_webhook"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 10000
}

resource "aws_apigatewayv2_route" "git_webhook" {
  count = local.webhook_enabled ? 1 : 0
  #checkov:skip=CKV_AWS_309:GitHub and GitLab cannot send IAM/JWT auth; every delivery's signature (GitHub HMAC) or token (GitLab) is verified in the Lambda before its body is read.

  api_id             = aws_apigatewayv2_api.slack[0].id
  route_key          = "POST /git/webhook"
  target             = "integrations/${aws_apigatewayv2_integration.git_webhook[0].id}"
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "git_webhook" {
  count = local.webhook_enabled ? 1 : 0

  statement_id  = "AllowGitWebhookRoute"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["git_webhook"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.slack[0].execution_arn}/*/POST/git/webhook"
}
