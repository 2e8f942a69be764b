"""Faults tier, case 1: Slack answering 500 for the whole run; and DynamoDB refusing the approval's write.

Slack's fault is the stand-in's switch (``chat.postMessage`` answers 500 for the whole run);
DynamoDB's is the emulated service refusing the approval's ``PutItem`` (AccessDenied, as a
role without the permission gets). The code under test runs as deployed, unpatched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mlflow import MlflowClient
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend

from mlops_pipeline.domain.models import Approval, ApprovalStatus
from tests.faults.checks import assert_locks_free, last_message, registry_alias
from tests.faults.conftest import Pipeline

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CHANNEL = "C0PIPELINE"
STATUS_CHANGE = "Step Functions Execution Status Change"


@pytest.fixture
def slack_down(pipeline: Pipeline) -> Iterator[None]:
    pipeline.slack.set_faults({"chat.postMessage": 500})
    try:
        yield
    finally:
        pipeline.slack.set_faults({})


def requested_approval(pipeline: Pipeline, model: str, execution: str, timeout: float = 300) -> Approval:
    """The execution's approval record, once stored (fails early if the run ended first)."""
    sfn = pipeline.emu.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = pipeline.approvals.list_for_execution(model, execution)
        if stored:
            return stored[0]
        status = sfn.describe_execution(executionArn=execution)["status"]
        assert status == "RUNNING", f"ended {status} before the approval: {pipeline.stack.states(execution)}"
        time.sleep(0.5)
    raise AssertionError(f"no approval record after {timeout}s: {pipeline.stack.states(execution)}")


def signed_decision(pipeline: Pipeline, approval: Approval, action: str = "approve") -> int:
    """What ``mlops-pipeline local approve`` does when the card was never posted: the stand-in
    signs the payload a click on the card would carry and sends it to the real interactions
    endpoint (and so to the slack_interactions Lambda)."""
    status, _ = pipeline.slack.decide_without_card(approval.id, action, "U0APPROVER", CHANNEL)
    return status


def notify(pipeline: Pipeline, execution: str, status: str) -> dict[str, Any]:
    """Invoke notify with the SNS-wrapped status change, as SNS (and Lambda's retry of a failed
    asynchronous invocation, which the emulator does not perform) delivers it."""
    message = {
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "detail": {"executionArn": execution, "status": status},
    }
    event = {
        "Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message), "MessageId": "m"}}]
    }
    answer = pipeline.emu.client("lambda").invoke(
        FunctionName=pipeline.stack.function_name("notify"), Payload=json.dumps(event).encode()
    )
    return {"error": answer.get("FunctionError"), "payload": json.loads(answer["Payload"].read())}


@pytest.fixture
def status_events_by_hand(pipeline: Pipeline) -> Iterator[None]:
    """Pause the harness' status rule: this test delivers notify's events itself (notify() below),
    as SNS and Lambda's retries would. Left on, the rule's own asynchronous delivery races the
    test's calls, and which of them catches the thread up first is a matter of timing."""
    events = pipeline.emu.client("events")
    rules = [r["Name"] for r in events.list_rules()["Rules"] if r["Name"].endswith("-pipeline-status")]
    assert rules, "the harness creates the status rule"
    for name in rules:
        events.disable_rule(Name=name)
    try:
        yield
    finally:
        for name in rules:
            events.enable_rule(Name=name)


def test_slack_down_for_the_whole_run_it_still_reaches_prod_and_the_thread_catches_up(
    pipeline: Pipeline, slack_down: None, status_events_by_hand: None
) -> None:
    pipeline.stack.declare_model("slackdown")  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", "slackdown")
    execution = pipeline.stack.start(pipeline.commit({"name": "slackdown", "metrics": {"rmse": 3.0}}))

    approval = requested_approval(pipeline, "slackdown", execution)
    assert approval.status is ApprovalStatus.PENDING and approval.slack_ts is None  # no card
    assert signed_decision(pipeline, approval) == 200
    result = pipeline.stack.wait(execution)

    assert result["status"] == "SUCCEEDED", pipeline.stack.states(execution)
    # The tier shares one stack: an earlier test's run may still deploy prod meanwhile, so "moved"
    # is what this run can claim; DeployProd SUCCEEDED in this run's own record below.
    assert int(pipeline.stack.alias_version("prod", "slackdown")) > int(prod_before)
    assert pipeline.approvals.get(approval.id).status is ApprovalStatus.APPROVED
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "SUCCEEDED"
    assert run.slack_thread_ts is None and run.posted == 0  # nothing reached Slack...
    recorded = [(s.step, s.status) for s in run.steps]  # ...everything is recorded
    for step in (
        ("Pipeline", "STARTED"),
        ("DeployStage", "SUCCEEDED"),
        ("SmokeTestStage", "SUCCEEDED"),
        ("Approval", "CARD_NOT_POSTED"),
        ("Approval", "APPROVED"),
        ("DeployProd", "SUCCEEDED"),
        ("SmokeTestProd", "SUCCEEDED"),
        ("PromoteProd", "SUCCEEDED"),
    ):
        assert step in recorded, (step, recorded)
    assert recorded[0] == ("Pipeline", "STARTED") and recorded[-1] == ("Pipeline", "SUCCEEDED")
    assert pipeline.slack.fault_hits["chat.postMessage"] > 0
    # The final notify cannot catch up either: it fails, so that Lambda retries it later.
    assert notify(pipeline, execution, "SUCCEEDED")["payload"]["errorType"] == "ThreadNotCaughtUpError"

    pipeline.slack.set_faults({})  # Slack is back; the retry of notify catches the thread up
    assert notify(pipeline, execution, "SUCCEEDED") == {"error": None, "payload": {"posted": 0}}
    run = pipeline.runs.get(execution)
    assert run is not None and run.slack_thread_ts and run.posted == len(run.steps)
    replies = pipeline.slack.thread(run.slack_thread_ts)[1:]
    assert len(replies) == len(run.steps)  # every step exactly once...
    for message, step in zip(replies, run.steps, strict=True):  # ...in the recorded order
        assert f"{step.step} {step.status.lower()}" in message.text, (message.text, step)
    assert "card could not be posted" in "\n".join(m.text for m in replies)
    assert notify(pipeline, execution, "SUCCEEDED") == {"error": None, "payload": {"posted": 0}}
    assert len(pipeline.slack.thread(run.slack_thread_ts)) == 1 + len(run.steps)  # nothing twice
    assert "Pipeline succeeded" in last_message(pipeline, execution)

    # The registry says what both accounts received from this run, and the locks are free.
    version = registry_alias(pipeline, "slackdown", "production")
    assert version is not None and registry_alias(pipeline, "slackdown", "staging") == version
    tags = MlflowClient(pipeline.mlflow.url).get_model_version("slackdown", version).tags
    assert tags["pipeline_execution"] == execution and tags["approved_by"] == "U0APPROVER"
    assert int(tags["prod_lambda_version"]) > int(prod_before) and tags["stage_lambda_version"]
    assert_locks_free(pipeline)


def test_a_final_message_posted_after_the_outage_still_carries_the_rollback_button(
    pipeline: Pipeline, status_events_by_hand: None
) -> None:
    # A first run with Slack up makes a champion; the second succeeds with Slack down: its final
    # message reaches Slack only through notify's catch-up, and must offer the rollback all the same.
    model = "latebutton"
    first = pipeline.stack.start(pipeline.commit({"name": model, "metrics": {"rmse": 3.0}}))
    assert pipeline.click(pipeline.wait_for_card(first), "approve")[0] == 200
    assert pipeline.stack.wait(first)["status"] == "SUCCEEDED", pipeline.stack.states(first)

    pipeline.slack.set_faults({"chat.postMessage": 500})
    try:
        second = pipeline.stack.start(pipeline.commit({"name": model, "metrics": {"rmse": 2.0}}))
        assert signed_decision(pipeline, requested_approval(pipeline, model, second)) == 200
        assert pipeline.stack.wait(second)["status"] == "SUCCEEDED", pipeline.stack.states(second)
        run = pipeline.runs.get(second)
        assert run is not None and run.slack_thread_ts is None  # the final message never went out
    finally:
        pipeline.slack.set_faults({})
    assert notify(pipeline, second, "SUCCEEDED") == {"error": None, "payload": {"posted": 0}}
    final = pipeline.thread(second)[-1]
    assert "Pipeline succeeded" in final.text
    assert [(b["action_id"], b["value"]) for b in final.buttons] == [
        ("rollback_prod", second.rsplit(":", 1)[-1])
    ]


class AccessDeniedError(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("AccessDeniedException", "not authorized to perform: dynamodb:PutItem")


@pytest.fixture
def approvals_table_refuses_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulated DynamoDB refuses PutItem of approval items (the test's process serves it)."""
    original = DynamoDBBackend.put_item

    def put_item(
        self: DynamoDBBackend, table_name: str, item_attrs: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        if str(item_attrs.get("pk", {}).get("S", "")).startswith("APPROVAL#"):
            raise AccessDeniedError()
        return original(self, table_name, item_attrs, *args, **kw)

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)


def test_an_approval_that_cannot_be_stored_ends_approval_not_requested(
    pipeline: Pipeline, approvals_table_refuses_writes: None
) -> None:
    pipeline.stack.declare_model("notrequested")  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", "notrequested")
    execution = pipeline.stack.start(pipeline.commit({"name": "notrequested", "metrics": {"rmse": 3.0}}))
    result = pipeline.stack.wait(execution)

    assert result["status"] == "FAILED"
    states = pipeline.stack.states(execution)
    assert states[-3:] == ["RequestApproval", "ReportApprovalNotRequested", "ApprovalNotRequested"], states
    assert pipeline.stack.alias_version("prod", "notrequested") == prod_before
    assert pipeline.approvals.list_for_execution("notrequested", execution) == []  # nothing to click
    thread = "\n".join(m.text for m in pipeline.thread(execution))
    assert "ApprovalRequestFailed" in thread and "could not be stored" in thread
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "FAILED"
    assert "could not be stored" in last_message(pipeline, execution)
    # Stage got this run's version (it passed its smoke test); prod and the registry's production
    # alias did not; the locks are free.
    staged = registry_alias(pipeline, "notrequested", "staging")
    assert staged is not None and registry_alias(pipeline, "notrequested", "production") is None
    tags = MlflowClient(pipeline.mlflow.url).get_model_version("notrequested", staged).tags
    assert tags["pipeline_execution"] == execution and "prod_lambda_version" not in tags
    assert "approved_by" not in tags
    assert_locks_free(pipeline)
