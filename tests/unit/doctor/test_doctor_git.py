"""The CodeConnections check: skipped for CodeCommit, AVAILABLE passes, PENDING fails with the handshake."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlops_pipeline.doctor.git_checks import check_connection
from mlops_pipeline.doctor.inputs import DoctorInputs, build_inputs
from mlops_pipeline.doctor.result import Status

ARN = "arn:aws:codeconnections:us-east-1:111111111111:connection/0000"


def inputs(git_source: str) -> DoctorInputs:
    return DoctorInputs("us-east-1", "222222222222", "333333333333", "Admin", git_source=git_source)


def connection(name: str, status: str, provider: str = "GitHub") -> dict[str, str]:
    return {
        "ConnectionName": name,
        "ConnectionArn": ARN,
        "ProviderType": provider,
        "ConnectionStatus": status,
    }


def check(git_source: str, pages: list[list[dict[str, str]]]) -> tuple[Status, str, str]:
    client = boto3.client(
        "codeconnections", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    provider = {"github": "GitHub", "gitlab": "GitLab"}.get(git_source, "GitHub")
    with Stubber(client) as stub:
        for i, page in enumerate(pages):
            expected = {"ProviderTypeFilter": provider, **({"NextToken": f"t{i}"} if i else {})}
            response = {"Connections": page, **({"NextToken": f"t{i + 1}"} if i + 1 < len(pages) else {})}
            stub.add_response("list_connections", response, expected)
        result = check_connection(client, inputs(git_source))
        stub.assert_no_pending_responses()
    return result.status, result.detail, result.fix


def test_codecommit_needs_no_connection() -> None:
    assert check("codecommit", [])[0] is Status.SKIP


def test_an_available_connection_passes_across_pages() -> None:
    status, detail, _ = check(
        "github", [[connection("other", "PENDING")], [connection("mlops-github", "AVAILABLE")]]
    )
    assert status is Status.PASS and "AVAILABLE" in detail


@pytest.mark.parametrize("git_source", ["github", "gitlab"])
def test_a_pending_connection_fails_and_says_how_to_complete_it(git_source: str) -> None:
    provider = {"github": "GitHub", "gitlab": "GitLab"}[git_source]
    status, detail, fix = check(git_source, [[connection(f"mlops-{git_source}", "PENDING", provider)]])
    assert status is Status.FAIL and "PENDING" in detail
    assert "Update pending connection" in fix and provider in fix


def test_an_errored_connection_fails() -> None:
    assert check("github", [[connection("mlops-github", "ERROR")]])[0] is Status.FAIL


def test_a_connection_not_created_yet_is_a_warning() -> None:
    status, detail, _ = check("gitlab", [[]])
    assert status is Status.WARN and "mlops-gitlab" in detail


def test_git_source_comes_from_the_tfvars() -> None:
    assert build_inputs({"git_source": "gitlab"}).git_source == "gitlab"
    assert build_inputs({}).git_source == "codecommit"
