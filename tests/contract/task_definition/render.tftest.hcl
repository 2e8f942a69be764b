# Renders the mlflow module's ECS task definition and the pipeline module wired to it with a
# mocked AWS provider. Each secret gets its own
# ARN (a mock would give every secret the same one), the front door its own endpoint.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mock" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::111111111111:policy/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:mock" }
  }
  mock_resource "aws_service_discovery_service" {
    defaults = { arn = "arn:aws:servicediscovery:us-east-1:111111111111:service/srv-abc" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:111111111111:task-definition/mlops-mlflow:1" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/mlflow-server" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mlops-mlflow-20250101000000000000000001", id = "mlops-mlflow-20250101000000000000000001" }
  }
  mock_resource "aws_rds_cluster" {
    defaults = {
      endpoint           = "mlops-mlflow.cluster-c0ffee.us-east-1.rds.amazonaws.com"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!cluster-0f1e2d3c-AbCdEf", kms_key_id = "k", secret_status = "active" }]
    }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = { api_endpoint = "https://abc123.execute-api.us-east-1.amazonaws.com", execution_arn = "arn:aws:execute-api:us-east-1:111111111111:abc123" }
  }
  # The pipeline module's resources.
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:111111111111:function:mock", invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/mock" }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:111111111111:mlops-pipeline-events" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:111111111111:table/mlops-pipeline" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/slack-AbCdEf" }
  }
  mock_resource "aws_codebuild_project" {
    defaults = { arn = "arn:aws:codebuild:us-east-1:111111111111:project/mlops-build" }
  }
  mock_resource "aws_codecommit_repository" {
    defaults = { arn = "arn:aws:codecommit:us-east-1:111111111111:models", clone_url_http = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:111111111111:rule/mock" }
  }
}

override_resource {
  target = module.mlflow.aws_secretsmanager_secret.admin
  values = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow/admin-AbCdEf" }
}

override_resource {
  target = module.mlflow.aws_secretsmanager_secret.pipeline
  values = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/mlflow/pipeline-AbCdEf" }
}

run "render" {
  command = apply
}
