"""Faults that strike after a deploy moved ``live``: the lock is freed and the run says what to repair."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlops_pipeline.domain.errors import RegistryError
from mlops_pipeline.domain.models import Lock
from mlops_pipeline.handlers import deploy, notify, promote
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeLockStore, FakeRegistry
from tests.unit.handlers.test_handlers import EXECUTION, _sns, deps, model

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
    assert "deploy-stage" in held(deps)
    deps.registry = RegistryDown()  # the server stopped after the deploy

    event = {"execution": EXECUTION, "environment": "stage", "model": m, "deploy": d}
    with pytest.raises(RegistryError) as raised:
        promote.handle(event, deps)

    assert held(deps) == {}
    state = deps.deployed.get("stage")
    assert state is not None and state.version == "2" and state.execution == EXECUTION
    message = str(raised.value)
    assert "live serves ships v2 (Lambda v2" in message
    assert "set alias `staging` of ships to version 2" in message
    assert "stage_lambda_version" in message and "move live back to v1" in message


def test_an_ended_run_frees_the_deployment_locks_it_still_holds(deps: Deps) -> None:
    other = EXECUTION.replace("run-1", "run-2")
    now = deps.clock.now()
    deps.locks.acquire("deploy-prod", EXECUTION, now, 900)  # its deploy was killed by the timeout
    deps.locks.acquire("deploy-stage", other, now, 900)  # another run's: left alone

    notify.handle(_sns({"executionArn": EXECUTION, "status": "FAILED"}), deps)

    assert set(held(deps)) == {"deploy-stage"}
    assert held(deps)["deploy-stage"].owner == other
    assert held(deps)["deploy-stage"].expires_at == now + timedelta(seconds=900)
    notify.handle(_sns({"executionArn": other, "status": "RUNNING"}), deps)  # not an end
    assert set(held(deps)) == {"deploy-stage"}
