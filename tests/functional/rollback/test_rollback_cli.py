"""``mlops-pipeline rollback`` on moto: the caller's identity from STS, the rollback function's rules.

STS and DynamoDB are moto's (the caller is the IAM user whose keys the CLI holds); the prod
rollback function runs in-process behind a Lambda client stand-in (moto runs no Lambda code
without Docker), with the real DynamoDB stores and an in-memory registry and prod function.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from mlops_pipeline.adapters.aws.dynamodb import (
    DynamoApprovalStore,
    DynamoDeployedStateStore,
    DynamoLockStore,
    DynamoRollbackStore,
    DynamoRunStore,
    create_table,
)
from mlops_pipeline.cli.main import app
from mlops_pipeline.domain.models import DeployedState, RunRecord
from mlops_pipeline.domain.prod_rollback import RollbackStatus, make_offer, proof_headers
from mlops_pipeline.handlers import rollback
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock, FakeDeployer, FakeNotifier, FakeRegistry

from .conftest import REGION, TABLE

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:mlops-pipeline:run-7"
FUNCTION = "mlops-rollback-prod"


class FunctionStandIn:
    """The Lambda client's ``invoke`` of the prod rollback function, run in-process."""

    meta = SimpleNamespace(region_name=REGION)

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.payloads: list[Mapping[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        assert (FunctionName, InvocationType) == (FUNCTION, "RequestResponse")
        event = json.loads(Payload)
        self.payloads.append(event)
        try:
            body: Any = rollback.handle(event, self.deps)
            error = None
        except Exception as exc:
            body, error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}, "Unhandled"
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            answer["FunctionError"] = error
        return answer


@pytest.fixture
def world(aws: None, monkeypatch: pytest.MonkeyPatch) -> tuple[FunctionStandIn, FakeDeployer, str]:
    iam = boto3.client("iam", region_name=REGION)
    user = iam.create_user(UserName="ops")["User"]["Arn"]
    keys = iam.create_access_key(UserName="ops")["AccessKey"]
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, TABLE)
    clock = FakeClock()
    prod = FakeDeployer("prod-ships", current="3")
    prod.versions.update({"2": "v5.zip", "3": "v6.zip"})
    registry = FakeRegistry()
    registry.add("ships", "5", {}, prod_lambda_version="2", prod_function="prod-ships")
    registry.add("ships", "6", {}, prod_lambda_version="3", prod_function="prod-ships")
    registry.set_alias("ships", "production", "6")
    env = {
        "MLOPS_TABLE": TABLE,
        "SLACK_CHANNEL": "CPIPE",
        "APPROVERS": "UOPS",
        "IDENTITY_MAP": json.dumps({user: "UOPS"}),
        "DEPLOY_TARGETS": json.dumps(
            {"prod": {"role_arn": "arn:aws:iam::1:role/p", "functions": {"ships": "prod-ships"}}}
        ),
    }
    deps = Deps(
        env=env,
        clock=clock,
        approvals_store=DynamoApprovalStore(TABLE, client=ddb),
        runs=DynamoRunStore(TABLE, client=ddb),
        locks=DynamoLockStore(TABLE, client=ddb),
        deployed=DynamoDeployedStateStore(TABLE, client=ddb),
        notifier=FakeNotifier(),
        registry=registry,
        slack_bot_token="xoxb-test",
        deployer_factory=lambda environment, execution, model: prod,
    )
    deps.rollbacks = DynamoRollbackStore(TABLE, client=ddb)
    deps.runs.create_if_absent(RunRecord(execution=EXECUTION, started_at=clock.now(), slack_channel="CPIPE"))
    deps.deployed.put(DeployedState("prod", "b" * 40, 2000, "ships", "6", EXECUTION, clock.now()))
    offer = make_offer(EXECUTION, "ships", "6", "b" * 40, "5", clock.now())
    assert offer is not None
    deps.rollbacks.offer(offer)
    stand_in = FunctionStandIn(deps)
    real_session = boto3.Session

    class Session(real_session):  # type: ignore[misc,valid-type]
        """The CLI's session: moto for STS, the in-process function for Lambda."""

        def client(self, service: str, *args: Any, **kwargs: Any) -> Any:
            return stand_in if service == "lambda" else super().client(service, *args, **kwargs)

    def sts_answers(proof: object) -> str:
        """The function's STS call, on moto (which does not check signatures): the proof's key's user."""
        headers = proof_headers(proof, FUNCTION)
        match = re.search(r"Credential=([A-Z0-9]+)/", headers["authorization"])
        assert match is not None
        sts = boto3.client(
            "sts", region_name=REGION, aws_access_key_id=match.group(1), aws_secret_access_key="x"
        )
        return str(sts.get_caller_identity()["Arn"])

    monkeypatch.setattr(boto3, "Session", Session)
    monkeypatch.setattr(rollback, "verified_caller", sts_answers)
    # The CLI runs with the ops user's keys: STS names that user.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return stand_in, prod, user


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["rollback", "--function", FUNCTION, *args])


def test_the_cli_rolls_prod_back_as_the_verified_caller(
    world: tuple[FunctionStandIn, FakeDeployer, str],
) -> None:
    stand_in, prod, user = world
    result = run("--model", "ships", "--reason", "p99 doubled")
    assert result.exit_code == 0, result.output
    assert user in result.output and "back to Lambda v2" in result.output
    assert "principal" not in stand_in.payloads[0]  # the function asks STS, it takes no name
    assert prod.alias == "2"
    request = stand_in.deps.rollbacks.get("run-7")
    assert request is not None and request.status is RollbackStatus.DONE
    assert (request.via, request.principal, request.requested_by, request.reason) == (
        "cli",
        user,
        "UOPS",
        "p99 doubled",
    )
    assert stand_in.deps.deployed.get("prod", "ships").version == "5"  # type: ignore[union-attr]
    again = run("--model", "ships")  # prod now runs a version nobody recorded an offer for
    assert again.exit_code == 1 and "--to" in again.output


def test_the_cli_is_refused_for_a_caller_who_is_no_approver(
    world: tuple[FunctionStandIn, FakeDeployer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in, prod, _ = world
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="intern")
    keys = iam.create_access_key(UserName="intern")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    result = run("--model", "ships")
    assert result.exit_code == 1 and "maps to no approver" in result.output
    assert prod.alias == "3"
    assert stand_in.deps.rollbacks.get("run-7").status is RollbackStatus.OFFERED  # type: ignore[union-attr]


def test_the_cli_refuses_other_environments_and_reports_function_errors(
    world: tuple[FunctionStandIn, FakeDeployer, str],
) -> None:
    assert run("--env", "stage", "--model", "ships").exit_code == 2
    result = run("--model", "undeclared")
    assert result.exit_code == 1 and "nothing is recorded as deployed" in result.output
