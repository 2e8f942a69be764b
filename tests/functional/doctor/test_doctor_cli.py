"""``mlops-pipeline doctor`` against the emulator's three accounts, the local Slack stand-in and a
fake Terraform toolchain: the happy path, then one broken input at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from doctor_env import BOT_TOKEN, CHANNEL, LIVE_AWS, PROD_ONLY_ROLE, MembershipSlack, Toolchain
from typer.testing import CliRunner

from mlops_pipeline.cli.main import app
from mlops_pipeline.doctor.inputs import read_root_constraints
from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

# The root's own constraints (the tests copy its versions.tf).
CONSTRAINTS = read_root_constraints(LIVE_AWS)
Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def doctor(
    aws_env: Callable[[str], None],
    slack: MembershipSlack,
    toolchain: Toolchain,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """Run ``doctor --json`` on a root; returns the exit code and {check name: result}."""
    monkeypatch.setenv("MLOPS_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("MLOPS_SLACK_BOT_TOKEN", BOT_TOKEN)

    def run(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, ["doctor", "--root", str(root), "--json", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        data = json.loads(result.stdout)
        return result.exit_code, {r["name"]: r for r in data["results"]}

    return run


def statuses(results: dict[str, Any]) -> dict[str, str]:
    return {name: r["status"] for name, r in results.items()}


def test_happy_path_every_check_passes(
    doctor: Run, root: Callable[..., Path], slack: MembershipSlack
) -> None:
    code, results = doctor(
        root(
            'chatbot = { slack_team_id = "T0LOCAL", slack_channel_id = "C0PIPELINE" }',
            'chatbot_region = "us-west-2"',
        )
    )

    assert statuses(results) == {
        "tooling credentials": "PASS",
        "stage account role": "PASS",
        "prod account role": "PASS",
        "CodeCommit": "PASS",
        "CodeConnections connection": "SKIP",  # git_source = codecommit
        "AWS Chatbot region": "PASS",
        "VPC link zones": "PASS",
        "VPC link status": "SKIP",  # nothing applied yet
        "Slack token": "PASS",
        "Slack channel": "PASS",
        "Terraform version": "PASS",
        "AWS provider": "PASS",
    }, results
    assert code == 0
    assert "111111111111" in results["tooling credentials"]["detail"]
    assert (
        "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
        in results["stage account role"]["detail"]
    )
    assert slack.info_calls == 1
    # The emulator's us-east-1 has use1-az3 (as us-east-1e): reported, but the network's two zones are fine.
    zones = results["VPC link zones"]["detail"]
    assert "use1-az3" in zones and "us-east-1a" in zones and "us-east-1b" in zones


def test_human_output_has_one_line_per_check_and_never_the_token(
    aws_env: Callable[[str], None],
    slack: MembershipSlack,
    toolchain: Toolchain,
    root: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLOPS_SLACK_API_URL", slack.api_url)
    slack.members.clear()
    result = CliRunner().invoke(app, ["doctor", "--root", str(root()), "--slack-token", BOT_TOKEN])

    lines = result.stdout.splitlines()
    assert result.exit_code == 1, result.stdout
    assert any(line.lstrip().startswith("✓ PASS  tooling credentials") for line in lines), result.stdout
    failing = [i for i, line in enumerate(lines) if "✗ FAIL  Slack channel" in line]
    assert len(failing) == 1, result.stdout
    assert "fix: in Slack, open the channel and run /invite @mlops-pipeline" in lines[failing[0] + 1]
    # Chatbot (not set), VPC link status (not applied), CodeConnections (git_source = codecommit)
    assert lines[-1] == "8 passed, 1 failed, 3 skipped"
    assert BOT_TOKEN not in result.stdout and BOT_TOKEN not in (result.stderr or "")


def test_a_role_missing_in_stage_fails_with_the_fix(doctor: Run, root: Callable[..., Path]) -> None:
    code, results = doctor(root(), "--target-admin-role-name", PROD_ONLY_ROLE)

    stage, prod = results["stage account role"], results["prod account role"]
    assert code == 1
    assert (
        stage["status"] == "FAIL" and PROD_ONLY_ROLE in stage["detail"] and "222222222222" in stage["detail"]
    )
    assert f"create role {PROD_ONLY_ROLE}" in stage["fix"]
    assert prod["status"] == "PASS"


def test_stage_credentials_instead_of_tooling_fail(
    doctor: Run, root: Callable[..., Path], aws_env: Callable[[str], None]
) -> None:
    aws_env("stage")
    code, results = doctor(root())

    assert code == 1
    assert results["tooling credentials"]["status"] == "FAIL"
    assert "stage account" in results["tooling credentials"]["detail"]


def test_a_wrong_account_id_fails_before_any_call(doctor: Run, root: Callable[..., Path]) -> None:
    code, results = doctor(root(), "--prod-account-id", "33333")

    assert code == 1
    assert results["prod account role"]["status"] == "FAIL"
    assert "12-digit" in results["prod account role"]["detail"]
    assert results["stage account role"]["status"] == "PASS"


def test_chatbot_in_us_east_1_fails(doctor: Run, root: Callable[..., Path]) -> None:
    chatbot = 'chatbot = { slack_team_id = "T0LOCAL", slack_channel_id = "C0PIPELINE" }'
    # The root's chatbot_region defaults to us-west-2 (variables.tf), whatever region is.
    code, results = doctor(root(chatbot))
    assert (
        results["AWS Chatbot region"]["status"] == "PASS"
        and "us-west-2" in results["AWS Chatbot region"]["detail"]
    )
    assert code == 0

    code, results = doctor(root(chatbot, 'chatbot_region = "us-east-1"'))
    failed = results["AWS Chatbot region"]
    assert code == 1
    assert failed["status"] == "FAIL" and "us-east-1" in failed["detail"]
    assert "us-west-2" in failed["fix"]

    code, results = doctor(root(chatbot, 'chatbot_region = "us-east-1"'), "--chatbot-region", "eu-west-1")
    assert results["AWS Chatbot region"]["status"] == "PASS"
    assert code == 0


def test_a_region_without_codecommit_fails(doctor: Run, root: Callable[..., Path]) -> None:
    code, results = doctor(root(), "--region", "ca-west-1")

    assert code == 1
    assert results["CodeCommit"]["status"] == "FAIL"
    assert "ca-west-1" in results["CodeCommit"]["detail"]


def test_an_existing_repository_is_a_warning(
    doctor: Run, root: Callable[..., Path], emulator: Emulator
) -> None:
    emulator.client("codecommit").create_repository(repositoryName="taken-models")
    try:
        code, results = doctor(root('repository_name = "taken-models"'))
    finally:
        emulator.client("codecommit").delete_repository(repositoryName="taken-models")

    assert results["CodeCommit"]["status"] == "WARN"
    assert "terraform import" in results["CodeCommit"]["fix"]
    assert code == 0


def test_a_deployed_vpc_link_is_reported(doctor: Run, root: Callable[..., Path], emulator: Emulator) -> None:
    api = emulator.client("apigatewayv2")
    vpc = emulator.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = emulator.client("ec2").create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    link = api.create_vpc_link(Name="mlops-mlflow", SubnetIds=[subnet])["VpcLinkId"]
    try:
        _, results = doctor(root())
    finally:
        api.delete_vpc_link(VpcLinkId=link)

    assert results["VPC link status"]["status"] == "PASS", results["VPC link status"]
    assert f"mlops-mlflow ({link}) is AVAILABLE" in results["VPC link status"]["detail"]


def test_a_bad_slack_token_fails_and_is_never_echoed(doctor: Run, root: Callable[..., Path]) -> None:
    wrong = "xoxb-not-the-right-token-999"
    code, results = doctor(root(), "--slack-token", wrong)

    assert code == 1
    assert results["Slack token"]["status"] == "FAIL"
    assert "invalid_auth" in results["Slack token"]["detail"]
    assert results["Slack channel"]["status"] == "SKIP"
    assert wrong not in json.dumps(results)


def test_a_user_token_is_refused_without_calling_slack(
    doctor: Run, root: Callable[..., Path], slack: MembershipSlack
) -> None:
    code, results = doctor(root(), "--slack-token", "xoxp-a-user-token")

    assert code == 1
    assert results["Slack token"]["status"] == "FAIL" and "xoxb-" in results["Slack token"]["detail"]
    assert slack.info_calls == 0


def test_a_bot_outside_the_channel_fails(
    doctor: Run, root: Callable[..., Path], slack: MembershipSlack
) -> None:
    slack.members.clear()
    code, results = doctor(root())

    assert code == 1
    channel = results["Slack channel"]
    assert (
        channel["status"] == "FAIL" and "not a member" in channel["detail"] and CHANNEL in channel["detail"]
    )
    assert "/invite @mlops-pipeline" in channel["fix"]


def test_an_unknown_channel_fails(doctor: Run, root: Callable[..., Path]) -> None:
    code, results = doctor(root(), "--slack-channel", "C0NOSUCH")

    assert code == 1
    assert results["Slack channel"]["status"] == "FAIL"
    assert "C0NOSUCH not found" in results["Slack channel"]["detail"]


def test_without_channels_read_membership_is_a_warning(
    doctor: Run, root: Callable[..., Path], slack: MembershipSlack
) -> None:
    slack.missing_scope = True
    code, results = doctor(root())

    assert results["Slack channel"]["status"] == "WARN"
    assert "channels:read" in results["Slack channel"]["detail"]
    assert code == 0


def test_no_slack_token_is_a_warning(
    doctor: Run, root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_SLACK_BOT_TOKEN")
    code, results = doctor(root())

    assert results["Slack token"]["status"] == "WARN"
    assert results["Slack channel"]["status"] == "SKIP"
    assert code == 0


def test_terraform_too_old_fails(doctor: Run, root: Callable[..., Path], toolchain: Toolchain) -> None:
    toolchain.terraform_reports("1.9.8")
    code, results = doctor(root())

    terraform = results["Terraform version"]
    assert code == 1
    assert terraform["status"] == "FAIL"
    assert (
        f"1.9.8 at {toolchain.bin_dir / 'terraform'} does not satisfy {CONSTRAINTS.terraform}"
        in terraform["detail"]
    )
    assert f"install Terraform {CONSTRAINTS.terraform}" in terraform["fix"]


def test_terraform_missing_fails(
    doctor: Run, root: Callable[..., Path], toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(toolchain.mirror))  # no terraform there
    code, results = doctor(root())

    assert code == 1
    assert results["Terraform version"]["status"] == "FAIL"
    assert "not found" in results["Terraform version"]["detail"]


def test_a_mirror_without_a_matching_provider_fails(
    doctor: Run, root: Callable[..., Path], toolchain: Toolchain
) -> None:
    toolchain.mirror_holds("5.70.0", "6.2.0")
    code, results = doctor(root())

    provider = results["AWS provider"]
    assert code == 1
    assert provider["status"] == "FAIL"
    assert (
        "6.2.0, 5.70.0" in provider["detail"]
        and f"none satisfies {CONSTRAINTS.aws_provider}" in provider["detail"]
    )


def test_without_a_mirror_the_provider_is_a_warning(
    doctor: Run, root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_PLUGIN_DIR", "")
    code, results = doctor(root())

    assert results["AWS provider"]["status"] == "WARN"
    assert code == 0


def test_var_file_and_options_override_the_tfvars(
    doctor: Run, root: Callable[..., Path], tmp_path: Path
) -> None:
    other = tmp_path / "other.tfvars"
    other.write_text(
        'region = "us-east-1"\nstage_account_id = "444444444444"\nprod_account_id = "333333333333"\n'
    )
    code, results = doctor(root(), "--var-file", str(other), "--slack-channel", CHANNEL)

    # 444444444444 has no admin role in the emulator; prod still has one.
    assert results["stage account role"]["status"] == "FAIL"
    assert "444444444444" in results["stage account role"]["detail"]
    assert results["prod account role"]["status"] == "PASS"
    assert code == 1
