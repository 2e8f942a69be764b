"""Faults that strike after a deploy moved ``live``: the lock is freed and the run says what to repair."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest.mock import ANY

import pytest

from mlops_pipeline.domain.errors import RegistryError
from mlops_pipeline.domain.models import Lock
from mlops_pipeline.handlers import deploy, notify, promote, report, rollback
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeLockStore, FakeRegistry
from tests.unit.handlers.test_handlers import EXECUTION, _sns, approved, deps, model

__all__ = ["deps"]


class RegistryDown(FakeRegistry):
    """The registry's server does not answer (every write fails, as MLflow's client does then)."""

    def set_tags(self, *args: object, **kwargs: object) -> None:
        raise RegistryError("API request to http://mlflow/... failed: Connection refused")

    def set_alias(self, *args: object, **kwargs: object) -> None:
        raise RegistryError("API request to http://mlflow/... failed: Connection refused")


def held(deps: Deps) -> dict[str, Lock]:
    assert isinstance(deps.locks, FakeLockStore)
    return deps.locks.locks


def test_a_promotion_the_registry_refuses_frees_the_lock_and_says_what_to_repair(deps: Deps) -> None:
    m = model(deps)
    d = deploy.handle({"execution": EXECUTION, "environment": "stage", "model": m}, deps)
    assert "deploy-stage-ships" in held(deps)
    deps.registry = RegistryDown()  # the server stopped after the deploy

    event = {"execution": EXECUTION, "environment": "stage", "model": m, "deploy": d}
    with pytest.raises(RegistryError) as raised:
        promote.handle(event, deps)

    assert held(deps) == {}
    state = deps.deployed.get("stage", "ships")
    assert state is not None and state.version == "2" and state.execution == EXECUTION
    message = str(raised.value)
    assert "live serves ships v2 (Lambda v2" in message
    assert "set alias `staging` of ships to version 2" in message
    assert "stage_lambda_version" in message and "move live back to v1" in message


def test_an_ended_run_frees_the_deployment_locks_it_still_holds(deps: Deps) -> None:
    other = EXECUTION.replace("run-1", "run-2")
    model(deps)  # its run record names its model: whose locks it may hold
    now = deps.clock.now()
    deps.locks.acquire("deploy-prod-ships", EXECUTION, now, 900)  # its deploy was killed by the timeout
    deps.locks.acquire("deploy-stage-ships", other, now, 900)  # another run's: left alone

    notify.handle(_sns({"executionArn": EXECUTION, "status": "FAILED"}), deps)

    assert set(held(deps)) == {"deploy-stage-ships"}
    assert held(deps)["deploy-stage-ships"].owner == other
    assert held(deps)["deploy-stage-ships"].expires_at == now + timedelta(seconds=900)
    notify.handle(_sns({"executionArn": other, "status": "RUNNING"}), deps)  # not an end
    assert set(held(deps)) == {"deploy-stage-ships"}


LOST = {"Error": "Runtime.ExitError", "Cause": json.dumps({"errorMessage": "RequestId: r1 signal: killed"})}


def test_a_deploy_whose_answer_was_lost_is_recovered_and_its_error_says_where_live_is(deps: Deps) -> None:
    m = model(deps)
    deploy.handle(
        {"execution": EXECUTION, "environment": "prod", "model": m, "approval": approved(deps, m)}, deps
    )
    assert (
        deps.deployer("prod", EXECUTION, "ships").current_version() == "2"
    )  # live moved; the answer was lost

    error = rollback.handle(
        {"execution": EXECUTION, "environment": "prod", "mode": "recover", "model": m, "error": LOST}, deps
    )

    assert deps.deployer("prod", EXECUTION, "ships").current_version() == "1"
    assert deps.deployer("stage", EXECUTION, "ships").current_version() == "1"  # never touched
    assert held(deps) == {}
    assert error["Error"] == "Runtime.ExitError"
    assert error["Cause"] == (
        "RequestId: r1 signal: killed. Recovery: live in prod back to v1 (this run had moved it to v2, untested); "
        "deployment lock freed"
    )
    assert error["recovery"] == {"action": "rolled_back", "live_version": "2", "detail": ANY}
    report.handle({"execution": EXECUTION, "step": "DeployProd", "status": "FAILED", "error": error}, deps)
    last = deps.runs.get(EXECUTION)
    assert last is not None and last.steps[-1].detail.startswith(
        "Runtime.ExitError: RequestId: r1 signal: killed."
    )
    assert "live in prod back to v1" in last.steps[-1].detail


def test_a_deploy_that_never_moved_live_is_recovered_without_touching_it(deps: Deps) -> None:
    deps.locks.acquire("deploy-stage-ships", EXECUTION, deps.clock.now(), 900)  # killed before publishing
    error = rollback.handle(
        {
            "execution": EXECUTION,
            "environment": "stage",
            "mode": "recover",
            "model": {"model_name": "ships"},
            "error": LOST,
        },
        deps,
    )
    assert held(deps) == {}
    assert deps.deployer("stage", EXECUTION, "ships").current_version() == "1"
    assert error["recovery"]["action"] == "untouched"
    assert error["Cause"].endswith("Recovery: live in stage was not moved by this run; deployment lock freed")
