"""A run stopped while it waits for approval: the status event reaches notify end to end.

StopExecution -> the execution ends ABORTED -> "Step Functions Execution Status Change" on
EventBridge -> the pipeline's SNS topic -> the notify Lambda, which records the outcome, tells
the Slack thread and ends the pending approval (its card loses its buttons).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore
from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.local.stack import demo
from mlops_pipeline.local.stack.client import card_buttons
from tests.e2e.conftest import E2E, SEED_MODEL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def eventually(check: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(1)


def test_a_run_stopped_while_waiting_for_approval_ends_aborted_everywhere(e2e: E2E) -> None:
    prod_before = demo.alias_version(e2e.client, "prod", SEED_MODEL)
    commit = demo.push_model(e2e.info, e2e.project("stopped"), "e2e stopped while waiting")
    execution = demo.find_execution(e2e.client, commit, timeout=60)
    sfn = e2e.client.client("stepfunctions")

    def card() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
            entered = [
                e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
            ]
            raise AssertionError(
                f"ended {described['status']} before asking for approval: {entered} "
                f"{described.get('error')}: {described.get('cause')}"
            )
        return e2e.client.approval_card(execution)

    eventually(lambda: card() is not None, "an approval card", timeout=420)
    approval_id = str(card_buttons(card() or {})[0]["value"])
    approvals = DynamoApprovalStore(e2e.info.table, client=e2e.client.client("dynamodb"))
    assert approvals.get(approval_id).status is ApprovalStatus.PENDING

    stopped_at = time.monotonic()
    sfn.stop_execution(executionArn=execution, error="Stopped", cause="stopped by the e2e test")
    eventually(
        lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", "the stop", timeout=30
    )
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert time.monotonic() - stopped_at < 30  # at once, not when the approval would time out

    # notify (EventBridge -> SNS -> Lambda, asynchronous) records and tells the outcome.
    eventually(lambda: e2e.client.runs().get(execution).status == "ABORTED", "run record ABORTED", 120)
    run = e2e.client.runs().get(execution)
    assert [s.step for s in run.steps][-1] == "Pipeline" and run.steps[-1].status == "ABORTED"
    assert run.pending == ()
    last = e2e.client.thread(run.slack_thread_ts)[-1]
    assert "Pipeline aborted" in last["text"], last["text"]

    # The approval of the dead run is ended; its card has no buttons and a click is refused.
    eventually(lambda: approvals.get(approval_id).status is not ApprovalStatus.PENDING, "approval ended", 60)
    ended = approvals.get(approval_id)
    assert ended.status is ApprovalStatus.CANCELLED, ended
    assert e2e.client.approval_card(execution) is None
    assert demo.alias_version(e2e.client, "prod", SEED_MODEL) == prod_before
