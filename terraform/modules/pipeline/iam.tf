data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.function_keys

  name               = "${var.name_prefix}-${replace(each.value, "_", "-")}-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

locals {
  mlflow_kms_arns = compact([aws_kms_key.this.arn, var.mlflow_credentials_kms_key_arn])

  # Least privilege, statement by statement: what every function needs, then what its entry in
  # local.functions (lambda.tf) asks for. Every statement carries `conditions` (often none).
  lambda_statements = {
    for name, fn in local.functions : name => concat(
      [
        {
          sid        = "OwnLogs"
          actions    = ["logs:CreateLogStream", "logs:PutLogEvents"]
          resources  = ["${aws_cloudwatch_log_group.lambda[name].arn}:*"]
          conditions = []
        },
        {
          # X-Ray has no resource-level permissions.
          sid        = "Tracing"
          actions    = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          resources  = ["*"]
          conditions = []
        },
        {
          sid        = "DecryptPipelineData"
          actions    = ["kms:Decrypt"]
          resources  = [aws_kms_key.this.arn]
          conditions = []
        },
      ],
      # The table, item by item: only the actions and partition keys the function uses. A query
      # of gsi1 names the index (its partition key gsi1pk is then what LeadingKeys holds).
      [for t in fn.table : {
        sid       = t.sid
        actions   = t.actions
        resources = [t.index ? "${aws_dynamodb_table.this.arn}/index/gsi1" : aws_dynamodb_table.this.arn]
        conditions = [{
          test     = "ForAllValues:StringLike"
          variable = "dynamodb:LeadingKeys"
          values   = t.keys
        }]
      }],
      contains(fn.features, "slack") ? [
        {
          sid        = "SlackBotToken"
          actions    = ["secretsmanager:GetSecretValue"]
          resources  = [aws_secretsmanager_secret.slack.arn]
          conditions = []
        },
      ] : [],
      contains(fn.features, "slack_signing") ? [
        {
          # Only the interactions endpoint verifies Slack's requests.
          sid        = "SlackSigningSecret"
          actions    = ["secretsmanager:GetSecretValue"]
          resources  = [aws_secretsmanager_secret.slack_signing.arn]
          conditions = []
        },
      ] : [],
      contains(fn.features, "git_webhook") ? [
        {
          # Only the webhook verifies the git host's deliveries.
          sid        = "GitWebhookSecret"
          actions    = ["secretsmanager:GetSecretValue"]
          resources  = aws_secretsmanager_secret.git_webhook[*].arn
          conditions = []
        },
        {
          # The one thing a verified push may do: start this pipeline.
          sid        = "StartPipeline"
          actions    = ["states:StartExecution"]
          resources  = [local.state_machine_arn]
          conditions = []
        },
      ] : [],
      length(fn.assume) > 0 ? [
        {
          # Its own environment's target role only (deploy role, or the smoke test's invoke role).
          sid        = "AssumeTargetRole"
          actions    = ["sts:AssumeRole"]
          resources  = fn.assume
          conditions = []
        },
      ] : [],
      contains(fn.features, "mlflow") && var.mlflow_credentials_secret_arn != "" ? [
        {
          sid        = "MlflowCredentials"
          actions    = ["secretsmanager:GetSecretValue"]
          resources  = [var.mlflow_credentials_secret_arn]
          conditions = []
        },
        {
          sid        = "DecryptMlflowCredentials"
          actions    = ["kms:Decrypt"]
          resources  = local.mlflow_kms_arns
          conditions = []
        },
      ] : [],
      length(try(fn.invoke, [])) > 0 ? [
        {
          # slack_interactions starts the prod rollback function (a claimed click), nothing else.
          sid        = "StartProdRollback"
          actions    = ["lambda:InvokeFunction"]
          resources  = fn.invoke
          conditions = []
        },
      ] : [],
      length(fn.task_callbacks) > 0 ? [
        {
          # The Service Authorization Reference lists the state machine (and activity) as the
          # resource types of SendTaskSuccess/SendTaskFailure: this pipeline's tasks only
          # (as CDK's grantTaskResponse scopes them).
          sid        = "ApprovalCallback"
          actions    = fn.task_callbacks
          resources  = [local.state_machine_arn]
          conditions = []
        },
      ] : [],
      contains(local.build_log_readers, name) ? [
        {
          # A failed build's report shows the end of its log: read only, this pipeline's
          # CodeBuild log streams only.
          sid        = "ReadBuildLogs"
          actions    = ["logs:GetLogEvents"]
          resources  = [for arn in local.codebuild_log_group_arns : "${arn}:log-stream:*"]
          conditions = []
        },
      ] : [],
    )
  }

  # Who reads the CodeBuild logs (the report function), and the log groups of every CodeBuild
  # project of this pipeline (a new project's group belongs here).
  build_log_readers        = ["report"]
  codebuild_log_group_arns = [aws_cloudwatch_log_group.train.arn, aws_cloudwatch_log_group.codebuild.arn]
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.functions

  dynamic "statement" {
    for_each = local.lambda_statements[each.key]

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# --- state machine ---------------------------------------------------------------

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "states" {
  name               = "${var.name_prefix}-pipeline-states"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "states" {
  #checkov:skip=CKV_AWS_111:Only log-delivery and X-Ray actions use "*": those APIs have no resource-level permissions.
  #checkov:skip=CKV_AWS_356:Only log-delivery and X-Ray actions use "*": those APIs have no resource-level permissions.
  statement {
    sid       = "InvokePipelineFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for f in local.asl_functions : [aws_lambda_function.this[f].arn, "${aws_lambda_function.this[f].arn}:*"]])
  }

  statement {
    sid       = "RunBuild"
    actions   = ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"]
    resources = [aws_codebuild_project.train.arn, aws_codebuild_project.this.arn]
  }

  statement {
    # The .sync integration watches the build through this Step Functions-managed rule.
    sid       = "SyncBuildRule"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForCodeBuildStartBuildRule"]
  }

  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "least-privilege"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

# --- EventBridge -> Step Functions -----------------------------------------------------

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${var.name_prefix}-pipeline-trigger"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "StartPipeline"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "start-pipeline"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

# --- KMS key and SNS topic policies -------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:In a key policy "*" as resource means this key only.
  #checkov:skip=CKV_AWS_111:In a key policy "*" as resource means this key only.
  #checkov:skip=CKV_AWS_356:In a key policy "*" as resource means this key only.
  statement {
    # Delegates to IAM in this account (explicit actions instead of kms:*).
    sid = "AccountAdministers"
    actions = [
      "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
      "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
      "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
      "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant",
      "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
      "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    # The target accounts' deploy roles read serving zips (UpdateFunctionCode from S3): decrypt
    # through S3 only, and only this bucket's objects (the bucket key's context is the bucket).
    sid       = "DeployRolesDecryptServingZips"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = local.serving_readers
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [module.artifacts_bucket.arn, "${module.artifacts_bucket.arn}/${local.serving_key_prefix}*"]
    }
  }

  statement {
    # EventBridge publishes execution status changes to the encrypted topic.
    sid       = "EventBridgeToTopic"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "sns" {
  statement {
    sid       = "EventBridgePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.status.arn]
    }
  }
}

# --- Slack signing secret -------------------------------------------------------------------

data "aws_iam_policy_document" "slack_signing" {
  statement {
    # Whatever identity policies say, only slack_interactions reads the value (operators still
    # put a new value with PutSecretValue).
    sid       = "OnlyTheInteractionsFunctionReads"
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
      values   = [aws_iam_role.lambda["slack_interactions"].arn]
    }
  }
}
