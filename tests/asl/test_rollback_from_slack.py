"""Roll back prod from Slack and from the terminal (issue 9 part 3), on the real state machine.

Two approved runs of one model put v1, then v2 in prod; the second run's final message carries
the "Roll back prod" button. A non-approver's click is refused (ephemeral) and moves nothing; an
approver's click moves prod ``live`` back to v1's Lambda version, the registry's ``production``
alias back to v1 with who/when/why tags, and reports in the run's thread; a second click is
refused. Then the terminal's path: the prod rollback function, invoked with an operator's own
keys, sends the CLI's signed GetCallerIdentity to the emulated STS itself, records the identity
STS names and obeys the same approver rule. (moto does not check SigV4 signatures: that a forged
proof is refused is STS's part on AWS; the proof's form is checked in the unit tests.)
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops_pipeline.adapters.aws.dynamodb import DynamoRollbackStore
from mlops_pipeline.cli.rollback_cmd import request_rollback
from mlops_pipeline.domain.prod_rollback import RollbackRequest, RollbackStatus
from tests.asl.conftest import Pipeline

pytestmark = [pytest.mark.asl, pytest.mark.slow]

MODEL = "rollme"
APPROVER, AUTHOR = "U0APPROVER", "U0AUTHOR"


def set_settings(pipeline: Pipeline, function: str, settings: dict[str, str]) -> None:
    """Add settings to one function, as Terraform's lambda.tf would give them (see the report)."""
    client = pipeline.emu.client("lambda")
    name = pipeline.stack.function_name(function)
    current = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**current, **settings}}
    )


def approved_run(pipeline: Pipeline, rmse: float) -> str:
    commit = pipeline.commit({"name": MODEL, "metrics": {"rmse": rmse}})
    execution = pipeline.stack.start(commit)
    status, _ = pipeline.click(pipeline.wait_for_card(execution), "approve")
    assert status == 200
    result = pipeline.stack.wait(execution)
    assert result["status"] == "SUCCEEDED", pipeline.stack.states(execution)
    return execution


def rollback_buttons(pipeline: Pipeline, execution: str) -> list[Any]:
    return [
        m for m in pipeline.thread(execution) if any(b["action_id"] == "rollback_prod" for b in m.buttons)
    ]


def ephemeral_for(pipeline: Pipeline, user: str, seen: int) -> str:
    mine = [e for e in pipeline.slack.ephemerals()[seen:] if e.user == user]
    assert mine, f"no ephemeral answer to {user}"
    return mine[-1].text


def wait_for(store: DynamoRollbackStore, request_id: str, timeout: float = 120.0) -> RollbackRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = store.get(request_id)
        if request is not None and request.status not in (RollbackStatus.OFFERED, RollbackStatus.REQUESTED):
            return request
        time.sleep(0.5)
    raise AssertionError(f"rollback {request_id} not finished after {timeout}s: {store.get(request_id)}")


def thread_line(pipeline: Pipeline, execution: str, step: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [m.text for m in pipeline.thread(execution) if step in m.text]
        if lines:
            return lines[-1]
        time.sleep(0.5)
    raise AssertionError(f"no {step} line in the thread: {[m.text for m in pipeline.thread(execution)]}")


def test_rollback_from_slack_then_from_the_terminal(pipeline: Pipeline) -> None:
    registry = MlflowClient(pipeline.mlflow.url)
    first = approved_run(pipeline, rmse=3.0)
    assert rollback_buttons(pipeline, first) == []  # a first deployment: nothing to go back to
    v1, live_v1 = (
        registry.get_model_version_by_alias(MODEL, "production").version,
        pipeline.live("prod", MODEL),
    )
    second = approved_run(pipeline, rmse=2.0)
    v2, live_v2 = (
        registry.get_model_version_by_alias(MODEL, "production").version,
        pipeline.live("prod", MODEL),
    )
    assert (v1, live_v1) != (v2, live_v2)
    [final] = rollback_buttons(pipeline, second)
    assert "succeeded" in final.text.lower()
    set_settings(
        pipeline,
        "slack_interactions",
        {"PROD_ROLLBACK_FUNCTION": pipeline.stack.function_name("rollback_prod")},
    )
    store = DynamoRollbackStore(pipeline.stack.table, client=pipeline.emu.client("dynamodb"))
    request_id = second.rsplit(":", 1)[-1]

    # A non-approver's click: refused to them alone, nothing moves.
    seen = len(pipeline.slack.ephemerals())
    status, _ = pipeline.slack.click(final.ts, "rollback_prod", AUTHOR)
    assert status == 200
    assert "approver" in ephemeral_for(pipeline, AUTHOR, seen)
    assert store.get(request_id).status is RollbackStatus.OFFERED  # type: ignore[union-attr]
    assert pipeline.live("prod", MODEL) == live_v2

    # An approver's click: live, registry and thread go back to v1.
    seen = len(pipeline.slack.ephemerals())
    status, _ = pipeline.slack.click(final.ts, "rollback_prod", APPROVER)
    assert status == 200
    assert "Rolling prod back" in ephemeral_for(pipeline, APPROVER, seen)
    done = wait_for(store, request_id)
    assert done.status is RollbackStatus.DONE, done.detail
    assert pipeline.live("prod", MODEL) == live_v1
    assert registry.get_model_version_by_alias(MODEL, "production").version == v1
    tags = registry.get_model_version(MODEL, v2).tags
    assert tags["rolled_back_by"] == APPROVER and tags["rollback_reason"] == "rolled back from Slack"
    assert "rolled_back_at" in tags
    assert registry.get_model_version(MODEL, v1).tags["restored_by"] == APPROVER
    report = thread_line(pipeline, second, "RollbackProdByHand")  # posted after the record is finished
    assert f"v{live_v1}" in report and APPROVER in report

    assert pipeline.runs.get(second).status == "SUCCEEDED"  # type: ignore[union-attr]

    # A second click: refused, nothing moves again.
    seen = len(pipeline.slack.ephemerals())
    pipeline.slack.click(final.ts, "rollback_prod", APPROVER)
    assert "was done" in ephemeral_for(pipeline, APPROVER, seen)
    assert pipeline.live("prod", MODEL) == live_v1

    # The terminal: an operator's own keys; STS names them, IDENTITY_MAP makes them an approver.
    iam = pipeline.emu.client("iam")
    iam.create_user(UserName="operator")
    keys = iam.create_access_key(UserName="operator")["AccessKey"]
    operator = pipeline.emu.client("sts").get_caller_identity()  # the admin, for contrast
    env = pipeline.emu.client("lambda").get_function_configuration(
        FunctionName=pipeline.stack.function_name("rollback_prod")
    )["Environment"]["Variables"]
    mapping = json.loads(env.get("IDENTITY_MAP") or "{}")

    import boto3

    session = boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        region_name=pipeline.emu.region,
    )
    endpoint = pipeline.emu.endpoint_url
    caller = str(session.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"])
    assert caller != operator["Arn"] and caller.endswith(":user/operator")
    function = pipeline.stack.function_name("rollback_prod")
    refused = request_rollback(session, function, MODEL, v2, endpoint_url=endpoint)
    assert not refused.accepted and "maps to no approver" in refused.message, refused.message
    set_settings(pipeline, "rollback_prod", {"IDENTITY_MAP": json.dumps({**mapping, caller: APPROVER})})
    answer = request_rollback(session, function, MODEL, v2, "v2 was fine", endpoint_url=endpoint)
    assert answer.accepted, answer.message
    assert answer.caller == caller and pipeline.live("prod", MODEL) == live_v2
    assert registry.get_model_version_by_alias(MODEL, "production").version == v2
    request = store.get(first.rsplit(":", 1)[-1])
    # The principal the function recorded is the one STS named for the proof it sent there itself.
    assert request is not None and (request.via, request.principal) == ("cli", caller)
    assert registry.get_model_version(MODEL, v1).tags["rollback_reason"] == "v2 was fine"
    again = request_rollback(session, function, MODEL, endpoint_url=endpoint)
    assert not again.accepted  # prod now runs v2's run, whose rollback was done: refused
