# The AWS provider's mocked answers for this module's tests (mock_provider "aws" { source = ... }).
# Data sources give fixed account, region and partition; resources give ARNs of the right shape.
mock_data "aws_caller_identity" {
  defaults = { account_id = "111111111111" }
}
mock_data "aws_region" {
  defaults = { name = "us-east-1" }
}
mock_data "aws_partition" {
  defaults = { partition = "aws" }
}
# The real policy documents are asserted through their statements; their JSON is mocked.
mock_data "aws_iam_policy_document" {
  defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
}
mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000" }
}
mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::111111111111:role/mock" }
}
mock_resource "aws_lambda_function" {
  defaults = { arn = "arn:aws:lambda:us-east-1:111111111111:function:mock", invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/mock" }
}
mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:mock" }
}
mock_resource "aws_apigatewayv2_api" {
  defaults = { execution_arn = "arn:aws:execute-api:us-east-1:111111111111:abc123", api_endpoint = "https://abc123.execute-api.us-east-1.amazonaws.com" }
}
mock_resource "aws_sfn_state_machine" {
  defaults = { arn = "arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline" }
}
mock_resource "aws_sns_topic" {
  defaults = { arn = "arn:aws:sns:us-east-1:111111111111:mlops-pipeline-events" }
}
mock_resource "aws_ecr_repository" {
  defaults = { arn = "arn:aws:ecr:us-east-1:111111111111:repository/mlops/serving", repository_url = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving" }
}
mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::mlops-artifacts-mock", id = "mlops-artifacts-mock" }
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
mock_resource "aws_codeconnections_connection" {
  defaults = { arn = "arn:aws:codeconnections:us-east-1:111111111111:connection/0000-conn" }
}
mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:us-east-1:111111111111:rule/mock" }
}
