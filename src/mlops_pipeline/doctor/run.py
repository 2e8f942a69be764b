"""Run every check in order; checks that need something an earlier one found missing are skipped."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import boto3
from slack_sdk import WebClient

from mlops_pipeline.doctor import aws_checks, git_checks, slack_checks, terraform_checks
from mlops_pipeline.doctor.inputs import DoctorInputs, RootConstraints
from mlops_pipeline.doctor.result import CheckResult, Status, skipped


def codecommit_regions(session: boto3.Session | None = None) -> frozenset[str]:
    """Regions botocore knows a CodeCommit endpoint for (no network call; reuse ``session``'s data)."""
    return frozenset((session or boto3.session.Session()).get_available_regions("codecommit"))


def aws_results(
    inputs: DoctorInputs, clients: aws_checks.ClientFactory, regions: Collection[str] | None = None
) -> list[CheckResult]:
    identity, caller_arn = aws_checks.check_caller_identity(
        clients("sts"), {"stage": inputs.stage_account_id, "prod": inputs.prod_account_id}
    )
    results = [identity]
    no_credentials = identity.status is Status.FAIL and caller_arn is None
    why = "needs working tooling credentials"
    if no_credentials:
        results += [
            skipped("stage account role", why),
            skipped("prod account role", why),
            skipped(aws_checks.CODECOMMIT, why),
            skipped(git_checks.CONNECTION, why),
        ]
    else:
        for label, account_id in (("stage", inputs.stage_account_id), ("prod", inputs.prod_account_id)):
            results.append(
                aws_checks.check_target_role(
                    clients, label, account_id, inputs.target_admin_role_name, caller_arn
                )
            )
        if inputs.git_source == "codecommit":
            results.append(
                aws_checks.check_codecommit(
                    clients("codecommit"),
                    inputs.region,
                    inputs.repository_name,
                    codecommit_regions() if regions is None else regions,
                )
            )
        else:
            results.append(skipped(aws_checks.CODECOMMIT, f"git_source is {inputs.git_source}"))
        results.append(git_checks.check_connection(clients("codeconnections"), inputs))
    results.append(aws_checks.check_chatbot_region(inputs))
    if no_credentials:
        results.append(skipped(aws_checks.VPC_LINK, why))
        results.append(skipped(aws_checks.VPC_LINK_STATUS, why))
    else:
        results.append(aws_checks.check_vpc_link_zones(clients("ec2"), inputs))
        results.append(aws_checks.check_vpc_link_status(clients("apigatewayv2"), inputs))
    return results


def slack_results(inputs: DoctorInputs, client: WebClient | None) -> list[CheckResult]:
    if client is None:
        return list(slack_checks.no_token())
    auth, identity = slack_checks.check_slack_auth(client)
    if identity is None:
        return [auth, skipped(slack_checks.CHANNEL, "needs a valid Slack token")]
    bot_name = str(identity.get("user") or "the bot")
    return [auth, slack_checks.check_slack_channel(client, inputs.slack_channel, bot_name)]


def terraform_results(
    constraints: RootConstraints, binary: str | None, plugin_dir: Path | None
) -> list[CheckResult]:
    info, error = terraform_checks.terraform_version_info(binary) if binary else (None, "")
    platform_name = str((info or {}).get("platform") or terraform_checks.host_platform())
    return [
        terraform_checks.check_terraform_version(binary, info, constraints.terraform, error),
        terraform_checks.check_provider_mirror(plugin_dir, constraints.aws_provider, platform_name),
    ]


def run_checks(
    inputs: DoctorInputs,
    clients: aws_checks.ClientFactory,
    slack: WebClient | None,
    constraints: RootConstraints,
    terraform_binary: str | None,
    plugin_dir: Path | None,
    regions: Collection[str] | None = None,
) -> list[CheckResult]:
    """Every check, in the order they are printed."""
    return [
        *aws_results(inputs, clients, regions),
        *slack_results(inputs, slack),
        *terraform_results(constraints, terraform_binary, plugin_dir),
    ]
