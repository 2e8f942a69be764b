"""Fault tier, case 4 after live moved: a deploy that moved ``live`` and then lost its answer.

The emulator's Lambda fault switch with ``after_run=True`` lets the deploy function run to the
end (code published, alias ``live`` moved, its intent recorded) and replaces its answer with a
crash, as when the process dies on its way out. With no deploy output, the state machine's
recovery (Recover<Env>: the environment's rollback function, mode recover) must find the intent,
move ``live`` back to the version from before the run, free the lock and say so in the thread.
"""

from __future__ import annotations

import re

import pytest

from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.local.emulator.lambda_faults import LambdaFault
from tests.faults.checks import (
    assert_locks_free,
    ended_in,
    last_message,
    live_versions,
    registry_alias,
)
from tests.faults.conftest import Pipeline

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ANSWER_LOST = LambdaFault(after_run=True)  # Runtime.ExitError once the code ran


def moved_by_the_lost_deploy(pipeline: Pipeline, execution: str, step: str) -> tuple[str, str]:
    """(previous, new) of the deploy whose answer was lost, as it recorded before dying."""
    run = pipeline.runs.get(execution)
    assert run is not None
    done = [s for s in run.steps if s.step == step and s.status == "SUCCEEDED"]
    assert len(done) == 1, [(s.step, s.status, s.detail) for s in run.steps]
    found = re.search(r"live v(\d+) -> v(\d+)", done[0].detail)
    assert found, done[0].detail
    return found[1], found[2]


def test_a_stage_deploy_that_moved_live_and_lost_its_answer_is_moved_back(pipeline: Pipeline) -> None:
    pipeline.stack.declare_model("stagelost")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "stagelost")
    function = pipeline.stack.function_name("deploy_stage")
    pipeline.emu.lambda_faults.set(function, ANSWER_LOST, times=1)
    try:
        execution = pipeline.stack.start(pipeline.commit({"name": "stagelost", "metrics": {"rmse": 3.0}}))
        ended_in(
            pipeline, execution, "DeployStage", "RecoverStage", "ReportDeployStageFailed", "DeployStageFailed"
        )
    finally:
        pipeline.emu.lambda_faults.clear(function)

    assert pipeline.emu.lambda_faults.hits[function] == 1
    previous, new = moved_by_the_lost_deploy(pipeline, execution, "DeployStage")
    assert previous == before["stage"] and int(new) > int(previous)  # live had moved to this run's version
    assert (
        live_versions(pipeline, "stagelost") == before
    )  # stage back on its previous version, prod untouched
    assert registry_alias(pipeline, "stagelost", "staging") is None
    assert registry_alias(pipeline, "stagelost", "production") is None
    assert pipeline.approvals.list_for_execution("stagelost", execution) == []
    assert_locks_free(pipeline, timeout=0)  # freed by the recovery itself, not by notify
    message = last_message(pipeline, execution)
    assert "DeployStage failed: Runtime.ExitError" in message, message
    assert f"live in stage back to v{previous} (this run had moved it to v{new}, untested)" in message, (
        message
    )
    assert "deployment lock freed" in message, message


def test_a_prod_deploy_that_moved_live_and_lost_its_answer_is_moved_back(pipeline: Pipeline) -> None:
    pipeline.stack.declare_model("prodlost")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "prodlost")
    function = pipeline.stack.function_name("deploy_prod")
    execution = pipeline.stack.start(pipeline.commit({"name": "prodlost", "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    staged = registry_alias(pipeline, "prodlost", "staging")
    stage_live = live_versions(pipeline, "prodlost")["stage"]
    assert staged is not None and int(stage_live) > int(before["stage"])  # this run's stage deployment
    pipeline.emu.lambda_faults.set(function, ANSWER_LOST, times=1)
    try:
        assert pipeline.click(card, "approve")[0] == 200
        ended_in(
            pipeline, execution, "DeployProd", "RecoverProd", "ReportDeployProdFailed", "DeployProdFailed"
        )
    finally:
        pipeline.emu.lambda_faults.clear(function)

    assert pipeline.emu.lambda_faults.hits[function] == 1
    previous, new = moved_by_the_lost_deploy(pipeline, execution, "DeployProd")
    assert previous == before["prod"] and int(new) > int(previous)
    assert live_versions(pipeline, "prodlost") == {
        "stage": stage_live,
        "prod": before["prod"],
    }  # stage untouched
    assert registry_alias(pipeline, "prodlost", "production") is None
    assert registry_alias(pipeline, "prodlost", "staging") == staged
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval is not None and approval.status is ApprovalStatus.APPROVED
    assert_locks_free(pipeline, timeout=0)
    message = last_message(pipeline, execution)
    assert "DeployProd failed: Runtime.ExitError" in message, message
    assert f"live in prod back to v{previous} (this run had moved it to v{new}, untested)" in message, message


def test_a_stage_recovery_that_fails_too_says_what_to_move_back_by_hand(pipeline: Pipeline) -> None:
    """The deploy moved live and lost its answer, and the recovery's process dies as well: live
    still serves the untested version, and the thread names the model's lock item to read the
    intent from (``LOCK#deploy-stage-<model>``) and what to move back by hand."""
    name = "recoveryfails"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, name)
    deploy, rollback = (
        pipeline.stack.function_name("deploy_stage"),
        pipeline.stack.function_name("rollback_stage"),
    )
    pipeline.emu.lambda_faults.set(deploy, ANSWER_LOST, times=1)
    pipeline.emu.lambda_faults.set(rollback, LambdaFault())  # RecoverStage runs the rollback function
    try:
        execution = pipeline.stack.start(pipeline.commit({"name": name, "metrics": {"rmse": 3.0}}))
        ended_in(
            pipeline,
            execution,
            "DeployStage",
            "RecoverStage",
            "ReportRecoverStageFailed",
            "RollbackStageFailed",
        )
    finally:
        pipeline.emu.lambda_faults.clear(deploy)
        pipeline.emu.lambda_faults.clear(rollback)

    after = live_versions(pipeline, name)
    assert (
        int(after["stage"]) > int(before["stage"]) and after["prod"] == before["prod"]
    )  # nobody moved it back
    message = last_message(pipeline, execution)
    assert "RecoverStage failed: Runtime.ExitError" in message, message
    assert "live in stage may still serve the version this run published" in message, message
    assert f"LOCK#deploy-stage-{name}, sk INTENT" in message, message
    assert "move live back to previous_version by hand" in message, message
    assert_locks_free(pipeline, models=[name])  # the ended run's lock, freed by notify
