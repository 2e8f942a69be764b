"""Fault tier, cases 2-5: Slack down at the card, MLflow down at PromoteProd, deploy error and
timeout, a rollback that fails. Each fault is injected at a service boundary: the Slack
stand-in's switch, the MLflow server process stopped, the emulator's Lambda runtime (its fault
switch, a function timeout set through the Lambda API) and the emulated prod Lambda API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.awslambda.models import LambdaBackend

from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.local.emulator.lambda_faults import LambdaFault
from tests.faults.checks import (
    assert_locks_free,
    ended_in,
    last_message,
    live_versions,
    registry_alias,
    wait_for_state,
)
from tests.faults.conftest import Pipeline

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_slack_down_at_the_card_the_run_waits_then_expires_and_prod_is_untouched(
    pipeline: Pipeline,
) -> None:
    short = pipeline.stack.add_state_machine("mlops-pipeline-card-outage", approval_timeout_seconds=15)
    pipeline.stack.declare_model("cardoutage")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "cardoutage")
    execution = pipeline.stack.start(
        pipeline.commit({"name": "cardoutage", "metrics": {"rmse": 3.0}}), state_machine_arn=short
    )
    wait_for_state(pipeline, execution, "RequestApproval")
    pipeline.slack.set_faults({"chat.postMessage": 500})  # down while the card is posted
    try:
        approval = None
        deadline = time.monotonic() + 120
        while approval is None or not any(
            s.status == "CARD_NOT_POSTED" for s in run_steps(pipeline, execution)
        ):
            assert time.monotonic() < deadline, run_steps(pipeline, execution)
            assert pipeline.stack.states(execution)[-1] == "RequestApproval", pipeline.stack.states(execution)
            stored = pipeline.approvals.list_for_execution("cardoutage", execution)
            approval = stored[0] if stored else None
            time.sleep(0.2)
        assert approval.status is ApprovalStatus.PENDING and approval.slack_ts is None  # decidable, no card
    finally:
        pipeline.slack.set_faults({})  # Slack is back before the approval times out

    ended_in(pipeline, execution, "ExpireApproval", "ReportApprovalExpired", "ApprovalExpired")
    assert live_versions(pipeline, "cardoutage")["prod"] == before["prod"]
    expired = pipeline.approvals.get(approval.id)
    assert expired is not None and expired.status is ApprovalStatus.EXPIRED
    assert registry_alias(pipeline, "cardoutage", "staging") is not None
    assert registry_alias(pipeline, "cardoutage", "production") is None
    assert_locks_free(pipeline)
    run = pipeline.runs.get(execution)
    assert run is not None and run.posted == len(run.steps)  # the thread caught up...
    joined = "\n".join(m.text for m in pipeline.thread(execution))
    assert "card could not be posted" in joined  # ...with the step it missed
    assert (
        "ApprovalExpired" in last_message(pipeline, execution)
        or "expired" in last_message(pipeline, execution).lower()
    )


def run_steps(pipeline: Pipeline, execution: str) -> list[Any]:
    run = pipeline.runs.get(execution)
    return list(run.steps) if run is not None else []


def test_mlflow_down_at_promote_prod_frees_the_lock_and_says_what_to_repair(pipeline: Pipeline) -> None:
    pipeline.stack.declare_model("mlflowdown")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "mlflowdown")
    execution = pipeline.stack.start(pipeline.commit({"name": "mlflowdown", "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    staged = registry_alias(pipeline, "mlflowdown", "staging")
    try:
        assert pipeline.click(card, "approve")[0] == 200
        pipeline.mlflow.stop()  # nothing after the approval needs MLflow until PromoteProd
        ended_in(pipeline, execution, "PromoteProd", "ReportPromoteProdFailed", "PromoteProdFailed")
    finally:
        pipeline.mlflow.restart()

    after = live_versions(pipeline, "mlflowdown")
    assert int(after["prod"]) > int(before["prod"])  # prod serves the approved, smoke-tested version
    assert registry_alias(pipeline, "mlflowdown", "production") is None  # the registry does not say so...
    assert registry_alias(pipeline, "mlflowdown", "staging") == staged
    message = last_message(pipeline, execution)  # ...and the run says exactly what to repair
    assert f"prod live serves mlflowdown v{staged} (Lambda v{after['prod']}" in message, message
    assert f"set alias `production` of mlflowdown to version {staged}" in message, message
    assert f"move live back to v{before['prod']}" in message, message
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval is not None and approval.status is ApprovalStatus.APPROVED
    assert_locks_free(pipeline, timeout=0)  # freed by PromoteProd itself, not by a lease or notify


def test_a_deploy_error_in_stage_leaves_live_and_frees_the_lock(pipeline: Pipeline) -> None:
    pipeline.stack.declare_model("stageerror")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "stageerror")
    function = pipeline.stack.function_name("deploy_stage")
    pipeline.emu.lambda_faults.set(function, LambdaFault())  # the function process dies
    try:
        execution = pipeline.stack.start(pipeline.commit({"name": "stageerror", "metrics": {"rmse": 3.0}}))
        ended_in(
            pipeline, execution, "DeployStage", "RecoverStage", "ReportDeployStageFailed", "DeployStageFailed"
        )
    finally:
        pipeline.emu.lambda_faults.clear(function)

    assert pipeline.emu.lambda_faults.hits[function] >= 1
    assert live_versions(pipeline, "stageerror") == before
    assert registry_alias(pipeline, "stageerror", "staging") is None
    assert pipeline.approvals.list_for_execution("stageerror", execution) == []
    assert_locks_free(pipeline, timeout=0)  # freed by RecoverStage
    message = last_message(pipeline, execution)
    assert "DeployStage failed: Runtime.ExitError" in message, message
    assert "live in stage was not moved by this run" in message, message


@pytest.fixture
def prod_publish_hangs(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The emulated prod Lambda API does not answer PublishVersion until the event is set."""
    answer = threading.Event()
    original = LambdaBackend.publish_version

    def publish_version(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
        if self.account_id == "333333333333":
            answer.wait(timeout=120)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LambdaBackend, "publish_version", publish_version)
    yield answer
    answer.set()


def test_a_deploy_timeout_in_prod_leaves_live_and_frees_the_lock(
    pipeline: Pipeline, request: pytest.FixtureRequest
) -> None:
    lam = pipeline.emu.client("lambda")
    function = pipeline.stack.function_name("deploy_prod")
    timeout = lam.get_function_configuration(FunctionName=function)["Timeout"]
    pipeline.stack.declare_model("prodtimeout")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "prodtimeout")
    # Only now: declaring the model published its prod function's first version.
    prod_publish_hangs: threading.Event = request.getfixturevalue("prod_publish_hangs")
    execution = pipeline.stack.start(pipeline.commit({"name": "prodtimeout", "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    lam.update_function_configuration(FunctionName=function, Timeout=20)
    try:
        pipeline.click(card, "approve")
        ended_in(
            pipeline, execution, "DeployProd", "RecoverProd", "ReportDeployProdFailed", "DeployProdFailed"
        )
    finally:
        lam.update_function_configuration(FunctionName=function, Timeout=timeout)
        prod_publish_hangs.set()

    assert live_versions(pipeline, "prodtimeout")["prod"] == before["prod"]
    assert registry_alias(pipeline, "prodtimeout", "production") is None
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval is not None and approval.status is ApprovalStatus.APPROVED
    assert_locks_free(pipeline, timeout=0)  # the killed deploy's lease, freed by RecoverProd
    message = last_message(pipeline, execution)
    assert "DeployProd failed: Sandbox.Timedout" in message, message
    assert "live in prod was not moved by this run" in message, message


def test_a_rollback_that_fails_ends_rollback_failed_and_says_what_to_do(pipeline: Pipeline) -> None:
    pipeline.stack.declare_model("rollbackfails")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "rollbackfails")
    inference = pipeline.stack.inference_function_for("rollbackfails")
    function = pipeline.stack.function_name("rollback_stage")
    pipeline.emu.lambda_faults.set(function, LambdaFault())
    try:
        execution = pipeline.stack.start(
            pipeline.commit({"name": "rollbackfails", "metrics": {"rmse": 3.0}, "behaviour": "broken"})
        )
        ended_in(pipeline, execution, "RollbackStage", "ReportRollbackStageFailed", "RollbackStageFailed")
        broken = live_versions(pipeline, "rollbackfails")["stage"]
        assert int(broken) > int(before["stage"])  # the broken version still serves stage
        message = last_message(pipeline, execution)
        assert f"live in stage still serves v{broken}" in message, message
        assert f"move alias live of {inference}" in message, message
        assert f"back to v{before['stage']} by hand" in message, message
        assert "Runtime.ExitError" in message, message
        assert registry_alias(pipeline, "rollbackfails", "staging") is None
        assert live_versions(pipeline, "rollbackfails")["prod"] == before["prod"]
        assert_locks_free(pipeline)
    finally:
        pipeline.emu.lambda_faults.clear(function)
        # What the message says to do, so that later tests find stage as it was.
        pipeline.emu.client("lambda", "stage").update_alias(
            FunctionName=inference, Name="live", FunctionVersion=before["stage"]
        )
