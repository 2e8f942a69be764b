# The AWS provider's mocked answers for this module's tests (mock_provider "aws" { source = "./tests/mocks" }).
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
mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:mock" }
}
mock_resource "aws_ecr_repository" {
  defaults = { arn = "arn:aws:ecr:us-east-1:111111111111:repository/mlops/mlflow-server", repository_url = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/mlflow-server" }
}
mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::mlops-mlflow-mock", id = "mlops-mlflow-mock" }
}
mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mock-AbCdEf" }
}
mock_resource "aws_rds_cluster" {
  defaults = {
    endpoint           = "mlops-mlflow.cluster-abc.us-east-1.rds.amazonaws.com"
    master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:rds-AbCdEf", kms_key_id = "k", secret_status = "active" }]
  }
}
mock_resource "aws_apigatewayv2_api" {
  defaults = { api_endpoint = "https://abc123.execute-api.us-east-1.amazonaws.com", execution_arn = "arn:aws:execute-api:us-east-1:111111111111:abc123" }
}
mock_resource "aws_service_discovery_service" {
  defaults = { arn = "arn:aws:servicediscovery:us-east-1:111111111111:service/srv-abc" }
}
mock_resource "aws_lb" {
  defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/mlops-mlflow/abc", dns_name = "mlops-mlflow-123.us-east-1.elb.amazonaws.com" }
}
mock_resource "aws_lb_target_group" {
  defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/mlops-mlflow/abc" }
}
mock_resource "aws_ecs_task_definition" {
  defaults = { arn = "arn:aws:ecs:us-east-1:111111111111:task-definition/mlops-mlflow:1" }
}
