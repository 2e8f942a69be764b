"""``mlops-pipeline doctor``: a read-only preflight to run before ``terraform apply`` of terraform/live/aws.

Run it with the credentials you will apply with (the tooling account's). It reads the root's
``terraform.tfvars`` (or ``--var-file``; options override single values), then checks the
accounts and roles, the region's services, the Slack app and the Terraform toolchain, printing
one line per check and the fix for each failure. Exit code 1 when a check failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlops_pipeline.doctor.result import CheckResult

_STYLE = {"PASS": ("✓", "green"), "WARN": ("!", "yellow"), "FAIL": ("✗", "bold red"), "SKIP": ("-", "dim")}


def _render(results: list[CheckResult], header: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    from mlops_pipeline.doctor.result import summary

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # logs and pipes: one line per check
    console.print(escape(header), soft_wrap=True)
    width = max(len(r.name) for r in results)
    for result in results:
        mark, style = _STYLE[result.status.value]
        console.print(
            f"  [{style}]{mark} {result.status.value}[/]  {escape(result.name.ljust(width))}  {escape(result.detail)}",
            soft_wrap=True,
        )
        if result.fix and result.status.value in ("FAIL", "WARN"):
            console.print(f"  {' ' * 8}{' ' * width}  fix: {escape(result.fix)}", soft_wrap=True)
    console.print(summary(results), soft_wrap=True)


def doctor(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root", help="The Terraform root to check (default: ./terraform/live/aws, else the checkout's)."
        ),
    ] = None,
    var_file: Annotated[
        Path | None, typer.Option("--var-file", help="Variables file (default: ROOT/terraform.tfvars).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Overrides `region`.")] = None,
    stage_account_id: Annotated[str | None, typer.Option(help="Overrides `stage_account_id`.")] = None,
    prod_account_id: Annotated[str | None, typer.Option(help="Overrides `prod_account_id`.")] = None,
    target_admin_role_name: Annotated[
        str | None, typer.Option(help="Overrides `target_admin_role_name`.")
    ] = None,
    chatbot_region: Annotated[
        str | None, typer.Option(help="Overrides `chatbot_region` (default: the region).")
    ] = None,
    slack_channel: Annotated[str | None, typer.Option(help="Overrides `slack_channel`.")] = None,
    slack_token: Annotated[
        str | None,
        typer.Option(
            envvar="MLOPS_SLACK_BOT_TOKEN",
            show_envvar=True,
            help="The app's bot token (xoxb-...); never printed.",
        ),
    ] = None,
    slack_api_url: Annotated[
        str,
        typer.Option(
            envvar=["MLOPS_SLACK_API_URL", "SLACK_API_URL"], show_envvar=True, help="Slack's Web API."
        ),
    ] = "https://slack.com/api/",
    profile: Annotated[str | None, typer.Option(help="AWS profile of the tooling account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object.")] = False,
) -> None:
    """Preflight before `terraform apply` of terraform/live/aws: accounts, roles, region, Slack, Terraform.

    Read-only: it only reads (sts:GetCallerIdentity, sts:AssumeRole, iam:GetRole,
    codecommit:GetRepository, ec2:DescribeAvailabilityZones, apigatewayv2 GetVpcLinks, Slack
    auth.test and conversations.info, terraform version). Exit code 1 when a check failed.
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    from mlops_pipeline.doctor import slack_checks
    from mlops_pipeline.doctor.aws_checks import boto_client_factory
    from mlops_pipeline.doctor.inputs import default_root, load_inputs, read_root_constraints
    from mlops_pipeline.doctor.result import any_failed
    from mlops_pipeline.doctor.run import codecommit_regions, run_checks
    from mlops_pipeline.tf import find_plugin_dir, find_terraform

    root_dir = (root or default_root()).resolve()
    if not root_dir.is_dir():
        raise typer.BadParameter(
            f"{root_dir} is not a directory (the terraform/live/aws root)", param_hint="--root"
        )
    if var_file is not None and not var_file.is_file():
        raise typer.BadParameter(f"{var_file} does not exist", param_hint="--var-file")
    overrides = {
        "region": region,
        "stage_account_id": stage_account_id,
        "prod_account_id": prod_account_id,
        "target_admin_role_name": target_admin_role_name,
        "chatbot_region": chatbot_region,
        "slack_channel": slack_channel,
    }
    inputs = load_inputs(root_dir, var_file, overrides)
    if not inputs.region:
        raise typer.BadParameter(
            "no region (set it in terraform.tfvars or pass --region)", param_hint="--region"
        )
    problem = slack_checks.api_url_problem(slack_api_url)
    if slack_token and problem:
        raise typer.BadParameter(problem, param_hint="--slack-api-url")
    try:
        session = boto3.Session(profile_name=profile, region_name=inputs.region)
    except BotoCoreError as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from None
    slack = slack_checks.slack_client(slack_token, slack_api_url) if slack_token else None
    results = run_checks(
        inputs,
        boto_client_factory(session, inputs.region),
        slack,
        read_root_constraints(root_dir),
        find_terraform(),
        find_plugin_dir(),
        codecommit_regions(session),
    )
    if as_json:
        payload = {
            "ok": not any_failed(results),
            "region": inputs.region,
            "root": str(root_dir),
            "results": [
                {"name": r.name, "status": r.status.value, "detail": r.detail, "fix": r.fix} for r in results
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        accounts = f"stage {inputs.stage_account_id or '?'}, prod {inputs.prod_account_id or '?'}"
        notes = "; ".join(inputs.notes)
        _render(
            results,
            f"mlops-pipeline doctor: {root_dir}, region {inputs.region}, {accounts}, "
            f"role {inputs.target_admin_role_name} ({notes})",
        )
    if any_failed(results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
