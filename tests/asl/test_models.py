"""One inference function per declared model (Terraform's ``models``), on the real ASL.

A push of a model the deployment does not declare ends at Evaluate, touching no account; two
models pushed together deploy side by side, each to its own function under its own lock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_pipeline.functions import ENVIRONMENTS
from tests.asl.conftest import Pipeline
from tests.faults.checks import lock_holders

pytestmark = [pytest.mark.asl, pytest.mark.slow]

RUN_TIMEOUT = 120.0  # a run to its approval card takes ~20 s here; a stuck one fails fast


def lives(pipeline: Pipeline) -> dict[tuple[str, str], str]:
    """``live`` of every declared model's function in every environment."""
    return {(env, m): pipeline.live(env, m) for m in pipeline.stack.models for env in ENVIRONMENTS}


def history(pipeline: Pipeline, execution: str) -> list[dict[str, Any]]:
    sfn = pipeline.emu.client("stepfunctions")
    return list(sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"])


def test_a_push_of_an_undeclared_model_ends_at_evaluate_and_touches_no_account(pipeline: Pipeline) -> None:
    name = "notdeclared"
    commit = pipeline.commit({"name": name, "metrics": {"rmse": 3.0}}, declare=False)
    assert name not in pipeline.stack.models
    before = lives(pipeline)
    execution = pipeline.stack.start(commit)
    result = pipeline.stack.wait(execution, timeout=RUN_TIMEOUT)

    assert result["status"] == "FAILED"
    assert result.get("error") in (None, "EvaluationFailed"), result
    states = pipeline.stack.states(execution)
    assert states[-3:] == ["Evaluate", "ReportEvaluateFailed", "EvaluationFailed"], states
    assert not any(state.startswith(("Deploy", "SmokeTest", "Rollback", "Recover")) for state in states)
    # Evaluate refused it, saying how to declare it: the Terraform variable `models`.
    [failed] = [e for e in history(pipeline, execution) if e["type"] == "LambdaFunctionFailed"]
    cause = json.loads(failed["lambdaFunctionFailedEventDetails"]["cause"])
    assert cause["errorType"] == "ConfigError", cause
    assert f"model '{name}' is not declared" in cause["errorMessage"], cause
    assert "Terraform variable `models`" in cause["errorMessage"], cause
    reported = [m.text for m in pipeline.thread(execution) if "Evaluate failed" in m.text]
    assert reported and "Terraform variable `models`" in reported[-1], reported
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "FAILED"

    # Nothing deployed anywhere: every live unchanged, no function made for it, no lock taken.
    assert lives(pipeline) == before
    for env in ENVIRONMENTS:
        lam = pipeline.emu.client("lambda", env)
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function(FunctionName=f"{pipeline.stack.settings.prefix}-{name}")
    assert lock_holders(pipeline, [name, *pipeline.stack.models]) == {}


def test_two_models_pushed_together_deploy_stage_side_by_side_each_to_its_own_function(
    pipeline: Pipeline,
) -> None:
    models = ("sidebyside-a", "sidebyside-b")
    commits = {m: pipeline.commit({"name": m, "metrics": {"rmse": 3.0}}) for m in models}
    functions = {m: pipeline.stack.inference_function_for(m) for m in models}
    assert len(set(functions.values())) == 2
    before = {m: pipeline.live("stage", m) for m in models}
    executions = {m: pipeline.stack.start(commits[m]) for m in models}  # started together
    cards = {m: pipeline.wait_for_card(executions[m], timeout=RUN_TIMEOUT) for m in models}

    for m in models:
        # Deployed and smoke-tested in stage without waiting on the other model's lock.
        locked = [
            e
            for e in history(pipeline, executions[m])
            if e.get("lambdaFunctionFailedEventDetails", {}).get("error") == "DeploymentLockedError"
        ]
        assert locked == [], (m, locked)
        assert int(pipeline.live("stage", m)) == int(before[m]) + 1
        served = pipeline.invoke_live("stage", m)
        assert served["model_name"] == m, (m, served)
        assert (
            served["model_version"]
            == json.loads(
                next(
                    e["stateExitedEventDetails"]["output"]
                    for e in history(pipeline, executions[m])
                    if e.get("stateExitedEventDetails", {}).get("name") == "Evaluate"
                )
            )["model"]["model_version"]
        )

    for m in models:  # end both runs before prod: cheap, and nothing left running
        assert pipeline.click(cards[m], "reject")[0] == 200
    for m in models:
        assert pipeline.stack.wait(executions[m], timeout=RUN_TIMEOUT)["status"] == "FAILED"
        assert pipeline.stack.states(executions[m])[-1] == "ModelRejected"
