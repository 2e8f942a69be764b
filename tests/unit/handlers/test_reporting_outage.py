"""Reporting never changes an outcome: with chat.postMessage failing, every handler still acts
and answers as it would, and once Slack is back the thread shows every step, in order, once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_pipeline.domain.errors import STABLE_ERROR_NAMES, ApprovalRequestFailed, ThreadNotCaughtUpError
from mlops_pipeline.domain.models import Approval, ApprovalStatus, InvokeResult
from mlops_pipeline.handlers import deploy, notify, promote, report, request_approval, smoke_test
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import (
    FakeApprovalStore,
    FakeCallbacks,
    FakeClock,
    FakeDeployedStateStore,
    FakeDeployer,
    FakeLockStore,
    FakeRegistry,
    FakeRunStore,
)
from tests.unit.chat_outage import ChatOutage

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1"
TRIGGER = {"commit": "c0ffee" * 6 + "abcd", "repository": "models", "branch": "main", "author": "ds"}
MODEL = {
    "model_name": "ships",
    "model_version": "2",
    "artifact": {"kind": "zip", "uri": "s3://artifacts/ships-2.zip?versionId=v1", "sha256": "ab" * 32},
    "commit": TRIGGER["commit"],
    "commit_time": 2000,
    "smoke_input": {"inputs": [{"a": 1.0}]},
}
STAGE = {"execution": EXECUTION, "environment": "stage", "model": MODEL}


@pytest.fixture
def chat() -> ChatOutage:
    return ChatOutage()


@pytest.fixture
def stage() -> FakeDeployer:
    return FakeDeployer("stage-fn")


def build(chat: ChatOutage, stage: FakeDeployer, approvals_store: FakeApprovalStore | None = None) -> Deps:
    registry = FakeRegistry()
    registry.add("ships", "2", {"rmse": 9.0}, git_commit=TRIGGER["commit"])
    return Deps(
        env={
            "MLOPS_TABLE": "t",
            "SLACK_CHANNEL": "CPIPE",
            "SMOKE_MAX_LATENCY_MS": "1000",
            "APPROVERS": "UAPPROVER",
            "APPROVAL_TIMEOUT_SECONDS": "3600",
            "DEPLOY_TARGETS": json.dumps(
                {"stage": {"role_arn": "arn:aws:iam::1:role/d", "functions": {"ships": "fn"}}}
            ),
        },
        clock=FakeClock(),
        approvals_store=approvals_store or FakeApprovalStore(),
        runs=FakeRunStore(),
        locks=FakeLockStore(),
        deployed=FakeDeployedStateStore(),
        notifier=chat,
        registry=registry,
        callbacks=FakeCallbacks(),
        deployer_factory=lambda environment, execution, model: stage,
    )


@pytest.fixture
def deps(chat: ChatOutage, stage: FakeDeployer) -> Deps:
    return build(chat, stage)


def start(deps: Deps) -> dict[str, Any]:
    return report.handle(
        {"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "STARTED"}, deps
    )


def steps(deps: Deps) -> list[tuple[str, str]]:
    run = deps.runs.get(EXECUTION)
    assert run is not None
    return [(s.step, s.status) for s in run.steps]


def status_change(status: str) -> dict[str, Any]:
    message = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {"executionArn": EXECUTION, "status": status, "input": json.dumps(TRIGGER)},
    }
    return {
        "Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message), "MessageId": "m"}}]
    }


def test_a_failing_post_at_start_does_not_fail_the_report(deps: Deps, chat: ChatOutage) -> None:
    chat.down = True
    assert start(deps) == {}
    assert steps(deps) == [("Pipeline", "STARTED")]


def test_a_deploy_whose_progress_post_fails_still_returns_its_result(
    deps: Deps, chat: ChatOutage, stage: FakeDeployer
) -> None:
    start(deps)
    chat.down = True
    result = deploy.handle(STAGE, deps)
    assert (result["previous_version"], result["new_version"]) == ("1", "2")
    assert stage.alias == "2"
    assert steps(deps)[-1] == ("DeployStage", "SUCCEEDED")
    # As after any good deploy: the lock stays with this run until PromoteStage releases it.
    assert deps.locks.locks["deploy-stage-ships"].owner == EXECUTION


def test_a_passing_smoke_test_with_a_failing_post_passes(
    deps: Deps, chat: ChatOutage, stage: FakeDeployer
) -> None:
    start(deps)
    deployed = deploy.handle(STAGE, deps)
    stage.invoke_result = InvokeResult(200, {"predictions": [3.0]}, None, 5.0, "2")
    chat.down = True
    # No exception: the ASL's Catch (RollbackStage) is not taken, live stays on v2.
    outcome = smoke_test.handle({**STAGE, "deploy": deployed}, deps)
    assert outcome["passed"] is True
    assert stage.alias == "2"
    assert steps(deps)[-1] == ("SmokeTestStage", "SUCCEEDED")


def test_a_failing_final_post_keeps_the_run_succeeded(deps: Deps, chat: ChatOutage) -> None:
    start(deps)
    chat.down = True
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.status == "SUCCEEDED"


def test_slack_down_for_the_whole_run_then_the_final_notify_catches_the_thread_up(
    deps: Deps, chat: ChatOutage, stage: FakeDeployer
) -> None:
    chat.down = True
    start(deps)
    deployed = deploy.handle(STAGE, deps)
    stage.invoke_result = InvokeResult(200, {"predictions": [3.0]}, None, 5.0, "2")
    smoke_test.handle({**STAGE, "deploy": deployed}, deps)
    promote.handle({**STAGE, "deploy": deployed}, deps)
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    assert deps.registry.get_by_alias("ships", "staging").version == "2"
    assert deps.locks.locks == {}
    assert chat.messages == {}
    # The status event arrives while Slack is still down: notify fails, for Lambda to retry it.
    with pytest.raises(ThreadNotCaughtUpError, match="run-1"):
        notify.handle(status_change("SUCCEEDED"), deps)

    chat.down = False
    assert notify.handle(status_change("SUCCEEDED"), deps) == {"posted": 0}  # the retry
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.slack_thread_ts and run.status == "SUCCEEDED"
    expected = [
        ("Pipeline", "STARTED"),
        ("DeployStage", "SUCCEEDED"),
        ("SmokeTestStage", "SUCCEEDED"),
        ("PromoteStage", "SUCCEEDED"),
        ("Pipeline", "SUCCEEDED"),
    ]
    assert steps(deps) == expected and run.posted == len(expected)
    posted = [m["text"] for m in chat.thread(run.slack_thread_ts)[1:]]
    assert len(posted) == len(expected)  # each step once
    for text, (step, status) in zip(posted, expected, strict=True):
        assert f"{step} {status.lower()}" in text, text  # ... and in order
    # A later delivery posts nothing twice.
    notify.handle(status_change("SUCCEEDED"), deps)
    assert len(chat.thread(run.slack_thread_ts)) == 1 + len(expected)


def test_an_aborted_run_is_told_once_even_when_notify_is_retried(deps: Deps, chat: ChatOutage) -> None:
    start(deps)
    chat.down = True
    with pytest.raises(ThreadNotCaughtUpError):
        notify.handle(status_change("ABORTED"), deps)
    chat.down = False
    assert notify.handle(status_change("ABORTED"), deps) == {"posted": 0}
    assert steps(deps) == [("Pipeline", "STARTED"), ("Pipeline", "ABORTED")]
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.status == "ABORTED" and run.pending == ()


REQUEST = {
    "token": "TASKTOKEN",
    "execution": EXECUTION,
    "input": TRIGGER,
    "model": MODEL,
    "stage": {"deploy": {"new_version": "2"}, "smoke": {"latency_ms": 4.0, "rows": 1}},
}


def test_a_card_that_cannot_be_posted_leaves_the_run_waiting_on_the_stored_approval(
    deps: Deps, chat: ChatOutage
) -> None:
    start(deps)
    chat.down = True
    out = request_approval.handle(REQUEST, deps)
    assert out["ts"] is None
    approval = deps.approvals_store.get(out["approval_id"])
    assert approval is not None and approval.status is ApprovalStatus.PENDING  # decidable, token stored
    assert deps.callbacks.failures == [] and deps.callbacks.successes == []  # the task waits
    assert steps(deps)[-1] == ("Approval", "CARD_NOT_POSTED")

    chat.down = False  # Slack back: the next report of the run catches the thread up
    report.handle({"execution": EXECUTION, "input": TRIGGER, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.slack_thread_ts
    texts = [m["text"] for m in chat.thread(run.slack_thread_ts)[1:]]
    assert "card could not be posted" in texts[1] and "local approve" in texts[1]
    assert len(texts) == 3


class StoreDown(FakeApprovalStore):
    """The write lands but its answer is lost (a timeout): the request must not stay clickable."""

    def put(self, approval: Approval) -> None:
        super().put(approval)
        raise TimeoutError("DynamoDB did not answer")


def test_an_approval_that_cannot_be_stored_fails_with_the_stable_name(
    chat: ChatOutage, stage: FakeDeployer
) -> None:
    store = StoreDown()
    deps = build(chat, stage, approvals_store=store)
    with pytest.raises(ApprovalRequestFailed, match="could not be stored") as info:
        request_approval.handle(REQUEST, deps)
    assert type(info.value).__name__ in STABLE_ERROR_NAMES  # what the ASL's Catch matches
    (written,) = store.items.values()
    assert written.status is ApprovalStatus.CANCELLED  # a later click is refused
    assert chat.messages and not any(
        m["blocks"] and "approve" in str(m["blocks"]) for m in chat.messages.values()
    )
