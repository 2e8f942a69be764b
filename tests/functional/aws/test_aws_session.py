"""assume_role_session against moto's STS: credentials land in the role's account."""

from __future__ import annotations

from typing import Any

import pytest
from aws_moto_env import PROD, STAGE

from mlops_pipeline.adapters.aws.session import assume_role_session

pytestmark = pytest.mark.functional


def test_session_acts_in_the_target_account(accounts: dict[str, str], tooling_sts: Any) -> None:
    sent: list[dict[str, Any]] = []
    tooling_sts.meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: sent.append(params)
    )

    session = assume_role_session(
        accounts["prod"],
        "arn:aws:states:us-east-1:111111111111:execution:pipeline:run/1 (retry)",
        external_id="org-123",
        sts_client=tooling_sts,
    )

    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == PROD
    assert ":assumed-role/mlops-deploy/" in identity["Arn"]
    assert session.region_name == "us-east-1"
    assert sent[0]["ExternalId"] == "org-123"
    assert sent[0]["RoleSessionName"] == (
        "arn-aws-states-us-east-1-111111111111-execution-pipeline-run-1--"  # cut to 64
    )
    functions = session.client("lambda").list_functions()["Functions"]
    assert [f["FunctionArn"].split(":")[4] for f in functions] == [PROD]


def test_no_external_id_is_not_sent(accounts: dict[str, str], tooling_sts: Any) -> None:
    sent: list[dict[str, Any]] = []
    tooling_sts.meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: sent.append(params)
    )
    session = assume_role_session(accounts["stage"], "x", sts_client=tooling_sts, region="eu-west-1")
    assert "ExternalId" not in sent[0]
    assert session.region_name == "eu-west-1"
    assert session.client("sts", region_name="us-east-1").get_caller_identity()["Account"] == STAGE
