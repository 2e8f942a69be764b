"""Assertions and waits shared by the fault tier: what every fault case checks after its run ended.

Each takes the tier's ``Pipeline`` (tests/asl/conftest.py) and reads the emulator, the MLflow
server and the Slack stand-in as they are, never the code under test.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_pipeline.adapters.aws.dynamodb.schema import LOCK_SK, key, lock_pk
from mlops_pipeline.domain.deployment import lock_name
from mlops_pipeline.functions import ENVIRONMENTS
from tests.asl.conftest import Pipeline


def live_versions(pipeline: Pipeline, model: str) -> dict[str, str]:
    """The version behind alias ``live`` of ``model``'s inference function, per environment."""
    return {env: pipeline.stack.alias_version(env, model) for env in ENVIRONMENTS}


def registry_alias(pipeline: Pipeline, model: str, alias: str) -> str | None:
    """The model version behind a registry alias, or None when the alias (or model) is absent."""
    try:
        return str(MlflowClient(pipeline.mlflow.url).get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def lock_holders(pipeline: Pipeline, models: Iterable[str] | None = None) -> dict[str, str]:
    """Deployment locks held now (unexpired leases) of ``models`` (default: every declared model,
    and so every lock a run could take): lock name (``deploy-<env>-<model>``) -> owner (an
    execution ARN)."""
    db = pipeline.emu.client("dynamodb")
    held = {}
    now = datetime.now(UTC).isoformat()
    for model in pipeline.stack.models if models is None else models:
        for env in ENVIRONMENTS:
            name = lock_name(env, model)
            item = db.get_item(TableName=pipeline.stack.table, Key=key(lock_pk(name), LOCK_SK))
            lock = item.get("Item")
            if lock and lock.get("expires_at", {}).get("S", "") > now:
                held[name] = lock["owner"]["S"]
    return held


def assert_locks_free(pipeline: Pipeline, timeout: float = 60.0, models: Iterable[str] | None = None) -> None:
    """Every deployment lock (of ``models``; default: all declared) is free (within ``timeout``:
    an ended run's lock is freed by notify, which the execution's status change reaches
    asynchronously)."""
    deadline = time.monotonic() + timeout
    while (held := lock_holders(pipeline, models)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not held, f"deployment locks still held: {held}"


def last_message(pipeline: Pipeline, execution: str) -> str:
    """The text of the last message in the execution's Slack thread."""
    thread = pipeline.thread(execution)
    assert thread, f"empty Slack thread for {execution}"
    return thread[-1].text


def wait_for_state(pipeline: Pipeline, execution: str, state: str, timeout: float = 300.0) -> None:
    """Block until the execution entered ``state``; fails early if the run ended before."""
    sfn = pipeline.emu.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state in pipeline.stack.states(execution):
            return
        status = sfn.describe_execution(executionArn=execution)["status"]
        assert status == "RUNNING", f"ended {status} before {state}: {pipeline.stack.states(execution)}"
        time.sleep(0.1)
    raise AssertionError(f"{execution} did not reach {state} within {timeout}s")


def ended_in(pipeline: Pipeline, execution: str, *states: str, timeout: float = 300.0) -> list[str]:
    """Wait for the run's end; assert it FAILED through ``states`` (its last states); its states."""
    result = pipeline.stack.wait(execution, timeout=timeout)
    entered = pipeline.stack.states(execution)
    assert result["status"] == "FAILED", (result["status"], entered)
    assert entered[-len(states) :] == list(states), entered
    return entered
