"""``mlops-pipeline doctor``: a read-only preflight before ``terraform apply`` of terraform/live/aws.

Each check is a small function returning a :class:`CheckResult` (status, detail, fix) from
injected clients (boto3, Slack's WebClient) or plain values, so it can be tested without AWS:

- ``aws_checks``: tooling credentials, the stage/prod admin roles, CodeCommit in the region,
  AWS Chatbot's region, the zones MLflow's API Gateway VPC link would use;
- ``slack_checks``: the bot token and the bot's membership of the channel;
- ``terraform_checks``: Terraform's version and a matching hashicorp/aws in the provider mirror;
- ``inputs``: the root's terraform.tfvars, variable defaults and version constraints;
- ``run``: all of them in order.
"""

from mlops_pipeline.doctor.result import CheckResult, Status, any_failed, summary

__all__ = ["CheckResult", "Status", "any_failed", "summary"]
