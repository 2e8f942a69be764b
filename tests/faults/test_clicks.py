"""Cases 8 and 9: clicks the approval gate must refuse, on the real ASL and the signed endpoint.

8. The execution is stopped (StopExecution) while it waits for approval, then the card is
   clicked: before the status event reached notify (the status rule paused: EventBridge late),
   and after notify ended the approval. Refused with a clear ephemeral message, card updated.
9. The author, resolved through IDENTITY_MAP, clicks Approve on their own model: refused. An
   author the map does not know needs two distinct approvers: one approval waits, a second
   approver completes it.

The approvers list is the interactions function's setting (APPROVERS), changed for case 9 as
Terraform would change it (UpdateFunctionConfiguration) and put back afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops_pipeline.domain.models import Approval, ApprovalStatus
from mlops_pipeline.local.emulator.emulator import ACCOUNTS
from mlops_pipeline.local.stack.harness import LOCAL_PUSHER
from tests.asl.conftest import Pipeline
from tests.faults.checks import assert_locks_free, last_message, registry_alias

pytestmark = [pytest.mark.faults, pytest.mark.slow]

STATUS_CHANGE = "Step Functions Execution Status Change"
UNMAPPED_PUSHER = f"arn:aws:sts::{ACCOUNTS['tooling']}:assumed-role/developer/contractor"


def eventually(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(0.5)


def approval_of(pipeline: Pipeline, card_value: str) -> Approval:
    approval = pipeline.approvals.get(card_value)
    assert approval is not None, card_value
    return approval


def told(pipeline: Pipeline, user: str) -> str:
    """The last ephemeral message the user got (the answer to their click)."""
    answers = [e.text for e in pipeline.slack.ephemerals() if e.user == user]
    assert answers, f"{user} got no answer"
    return answers[-1]


def buttons(pipeline: Pipeline, ts: str) -> list[dict[str, Any]]:
    message = pipeline.slack.message(ts)
    assert message is not None
    return message.buttons


def run_status(pipeline: Pipeline, execution: str) -> str | None:
    run = pipeline.runs.get(execution)
    return run.status if run is not None else None


def card_text(pipeline: Pipeline, ts: str) -> str:
    message = pipeline.slack.message(ts)
    assert message is not None
    return message.text + json.dumps(message.blocks)


def deploy_output(pipeline: Pipeline, execution: str, state: str) -> dict[str, Any]:
    """What ``state`` returned (the run left it successfully)."""
    sfn = pipeline.emu.client("stepfunctions")
    for event in reversed(sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]):
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == state:
            return dict(json.loads(details["output"]))
    raise AssertionError(f"{execution} never left {state}: {pipeline.stack.states(execution)}")


def notify(pipeline: Pipeline, execution: str, status: str) -> dict[str, Any]:
    """Deliver the execution's status change to notify as SNS does (the rule is paused)."""
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
def status_rule_paused(pipeline: Pipeline) -> Iterator[None]:
    """EventBridge is late: the status changes do not reach notify until the test delivers them."""
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


@pytest.fixture
def approvers(pipeline: Pipeline) -> Iterator[tuple[str, ...]]:
    """The author and a second approver join the allow list of the interactions function."""
    lam = pipeline.emu.client("lambda")
    function = pipeline.stack.function_name("slack_interactions")
    saved = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    allowed = ("U0APPROVER", "U0OTHER", "U0AUTHOR")
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**saved, "APPROVERS": ",".join(allowed)}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    try:
        yield allowed
    finally:
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": saved})


def stopped_while_waiting(pipeline: Pipeline, name: str) -> tuple[str, str, Any, bytes]:
    """A run waiting for approval, then stopped; returns (execution, stage version, card, and the
    body of an Approve click on it as Slack sends it, taken while the card had its buttons)."""
    execution = pipeline.stack.start(pipeline.commit({"name": name, "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    click = pipeline.slack.interaction_body(card.ts, "approve", "U0APPROVER")
    assert approval_of(pipeline, card.buttons[0]["value"]).status is ApprovalStatus.PENDING
    stage_version = deploy_output(pipeline, execution, "DeployStage")["deploy_stage"]["new_version"]
    sfn = pipeline.emu.client("stepfunctions")
    sfn.stop_execution(executionArn=execution, error="Stopped", cause="stopped by an operator")
    eventually(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", "the stop", 30)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    return execution, stage_version, card, click


def assert_stopped_run_left_prod_alone(
    pipeline: Pipeline, name: str, execution: str, stage_version: str, prod_before: str
) -> None:
    # Stage keeps what the run deployed and smoke-tested; prod and `production` never moved.
    assert pipeline.stack.alias_version("stage", name) == stage_version
    assert pipeline.stack.alias_version("prod", name) == prod_before
    staged = registry_alias(pipeline, name, "staging")
    assert staged is not None and registry_alias(pipeline, name, "production") is None
    tags = MlflowClient(pipeline.mlflow.url).get_model_version(name, staged).tags
    assert tags["pipeline_execution"] == execution
    assert "approved_by" not in tags and "deployed_prod_at" not in tags
    assert_locks_free(pipeline)
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "ABORTED"
    assert "Pipeline aborted" in last_message(pipeline, execution)


def test_click_on_a_stopped_run_before_the_status_event_is_refused(
    pipeline: Pipeline, status_rule_paused: None
) -> None:
    name = "stoppedclick"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", name)
    execution, stage_version, card, click = stopped_while_waiting(pipeline, name)
    approval_id = str(card.buttons[0]["value"])
    assert approval_of(pipeline, approval_id).status is ApprovalStatus.PENDING  # nobody told it yet

    assert pipeline.post_signed(click) == 200
    answer = told(pipeline, "U0APPROVER")
    assert answer.startswith("Refused: this run is no longer waiting for a decision"), answer
    assert "nothing was approved" in answer and "card is updated" in answer
    approval = approval_of(pipeline, approval_id)
    assert approval.status is ApprovalStatus.CANCELLED, approval
    assert "no longer waits" in approval.reason
    assert buttons(pipeline, card.ts) == []  # the card says so, without buttons
    assert "CANCELLED" in card_text(pipeline, card.ts).upper()

    # The status event arrives late: notify records the end; the approval stays CANCELLED.
    assert notify(pipeline, execution, "ABORTED")["error"] is None
    assert approval_of(pipeline, approval_id).status is ApprovalStatus.CANCELLED
    assert_stopped_run_left_prod_alone(pipeline, name, execution, stage_version, prod_before)


def test_click_on_a_stopped_run_after_notify_ended_its_approval_is_refused(pipeline: Pipeline) -> None:
    name = "stoppedlate"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", name)
    execution, stage_version, card, click = stopped_while_waiting(pipeline, name)
    approval_id = str(card.buttons[0]["value"])
    # The status event (EventBridge -> SNS -> notify) ends the approval and updates the card.
    eventually(
        lambda: approval_of(pipeline, approval_id).status is not ApprovalStatus.PENDING, "approval ended"
    )
    approval = approval_of(pipeline, approval_id)
    assert approval.status is ApprovalStatus.CANCELLED and "ABORTED" in approval.reason, approval
    assert buttons(pipeline, card.ts) == []

    # A client that still shows the buttons clicks anyway.
    assert pipeline.post_signed(click) == 200
    answer = told(pipeline, "U0APPROVER")
    assert answer.startswith("This request is cancelled") and "Nothing changed" in answer, answer
    assert approval_of(pipeline, approval_id) == approval  # nothing recorded
    eventually(lambda: run_status(pipeline, execution) == "ABORTED", "run record ABORTED")
    assert_stopped_run_left_prod_alone(pipeline, name, execution, stage_version, prod_before)


def assert_approved_into_prod(
    pipeline: Pipeline, name: str, execution: str, approval_id: str, by: tuple[str, ...], prod_before: str
) -> None:
    result = pipeline.stack.wait(execution)
    assert result["status"] == "SUCCEEDED", pipeline.stack.states(execution)
    output = json.loads(result["output"])
    version = output["model"]["model_version"]
    assert pipeline.stack.alias_version("stage", name) == output["deploy_stage"]["new_version"]
    assert pipeline.stack.alias_version("prod", name) == output["deploy_prod"]["new_version"]
    assert int(output["deploy_prod"]["new_version"]) == int(prod_before) + 1
    assert registry_alias(pipeline, name, "production") == version
    assert registry_alias(pipeline, name, "staging") == version
    tags = MlflowClient(pipeline.mlflow.url).get_model_version(name, version).tags
    assert tags["approved_by"] == ",".join(by)
    assert tags["prod_lambda_version"] == output["deploy_prod"]["new_version"]
    approval = approval_of(pipeline, approval_id)
    assert approval.status is ApprovalStatus.APPROVED and approval.approvers == by, approval
    assert_locks_free(pipeline)
    assert "Pipeline succeeded" in last_message(pipeline, execution)


def test_the_resolved_author_cannot_approve_their_own_model(
    pipeline: Pipeline, approvers: tuple[str, ...]
) -> None:
    name = "selfapproval"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", name)
    execution = pipeline.stack.start(pipeline.commit({"name": name, "metrics": {"rmse": 3.0}}), LOCAL_PUSHER)
    card = pipeline.wait_for_card(execution)
    approval_id = str(card.buttons[0]["value"])
    pending = approval_of(pipeline, approval_id)
    # The trigger's principal, through IDENTITY_MAP; so one approval (REQUIRED_APPROVALS) suffices.
    assert (pending.author, pending.author_slack_id) == (LOCAL_PUSHER, "U0AUTHOR")
    assert pending.required_approvals == 1

    assert pipeline.click(card, "approve", user="U0AUTHOR")[0] == 200
    answer = told(pipeline, "U0AUTHOR")
    assert "the author may not approve their own model" in answer, answer
    assert approval_of(pipeline, approval_id) == pending  # refused: nothing recorded
    assert buttons(pipeline, card.ts)  # still waiting for somebody else
    assert pipeline.stack.states(execution)[-1] == "RequestApproval"
    assert pipeline.stack.alias_version("prod", name) == prod_before

    assert pipeline.click(card, "approve", user="U0APPROVER")[0] == 200
    assert_approved_into_prod(pipeline, name, execution, approval_id, ("U0APPROVER",), prod_before)


def test_an_unresolved_author_needs_two_distinct_approvers(
    pipeline: Pipeline, approvers: tuple[str, ...]
) -> None:
    name = "quorum"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the push
    prod_before = pipeline.stack.alias_version("prod", name)
    commit = pipeline.commit({"name": name, "metrics": {"rmse": 3.0}})
    execution = pipeline.stack.start(commit, UNMAPPED_PUSHER)
    card = pipeline.wait_for_card(execution)
    approval_id = str(card.buttons[0]["value"])
    pending = approval_of(pipeline, approval_id)
    assert pending.author == UNMAPPED_PUSHER and pending.author_slack_id is None
    assert pending.required_approvals == 2
    assert "could not be identified" in card_text(pipeline, card.ts)

    # One approval (even clicked twice) counts once and the run keeps waiting.
    for _ in range(2):
        assert pipeline.click(card, "approve", user="U0APPROVER")[0] == 200
    assert "1 of 2" in told(pipeline, "U0APPROVER")
    counted = approval_of(pipeline, approval_id)
    assert counted.status is ApprovalStatus.PENDING and counted.approvers == ("U0APPROVER",)
    assert "1 of 2" in card_text(pipeline, card.ts) and buttons(pipeline, card.ts)
    time.sleep(2)  # had the first approval been sent to the run, it would have left RequestApproval
    assert pipeline.stack.states(execution)[-1] == "RequestApproval"
    assert pipeline.stack.alias_version("prod", name) == prod_before

    assert pipeline.click(card, "approve", user="U0OTHER")[0] == 200
    assert "2 approvals" in told(pipeline, "U0OTHER")
    assert_approved_into_prod(pipeline, name, execution, approval_id, ("U0APPROVER", "U0OTHER"), prod_before)
