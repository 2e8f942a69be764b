"""Least privilege inside the handlers: each secret from its own setting, each function its own environment."""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest

from mlops_pipeline.adapters.aws import secrets
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.handlers import deploy, rollback, smoke_test
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import (
    FakeClock,
    FakeDeployedStateStore,
    FakeDeployer,
    FakeLockStore,
    FakeNotifier,
    FakeRunStore,
)

BOT_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/slack-AbCdEf"
SIGNING_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops/slack-signing-secret-GhIjKl"
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1"
STAGE_ONLY = json.dumps(
    {
        "stage": {
            "role_arn": "arn:aws:iam::222222222222:role/mlops-deploy",
            "functions": {"ships": "mlops-ships"},
        }
    }
)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    """Every secret read (ARN, required keys); each ARN holds only its own key."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    values = {BOT_ARN: {"bot_token": "xoxb-1"}, SIGNING_ARN: {"signing_secret": "s3cr3t"}}

    def fake(
        secret_id: str, max_age: int = 300, require: Iterable[str] = (), provider: Any = None
    ) -> dict[str, str]:
        calls.append((secret_id, tuple(require)))
        value = values[secret_id]
        missing = [k for k in require if k not in value]
        if missing:
            raise ConfigError(f"secret {secret_id} lacks the keys {missing}")
        return value

    monkeypatch.setattr(secrets, "get_json_secret", fake)
    return calls


def test_the_bot_token_comes_from_its_own_secret(reads: list[tuple[str, tuple[str, ...]]]) -> None:
    # A posting function is not told where the signing secret is, and needs no signing_secret key.
    deps = Deps(env={"SLACK_SECRET_ARN": BOT_ARN})
    assert deps.slack_bot_token == "xoxb-1"
    assert reads == [(BOT_ARN, ("bot_token",))]


def test_the_signing_secret_comes_from_its_own_secret(reads: list[tuple[str, tuple[str, ...]]]) -> None:
    deps = Deps(env={"SLACK_SECRET_ARN": BOT_ARN, "SLACK_SIGNING_SECRET_ARN": SIGNING_ARN})
    assert deps.slack_signing_secret == "s3cr3t"
    assert reads == [(SIGNING_ARN, ("signing_secret",))]


def test_without_its_setting_the_signing_secret_is_not_read(reads: list[tuple[str, tuple[str, ...]]]) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET_ARN is required"):
        _ = Deps(env={"SLACK_SECRET_ARN": BOT_ARN}).slack_signing_secret
    assert reads == []


def _stage_function() -> tuple[Deps, list[str]]:
    made: list[str] = []

    def factory(environment: str, execution: str, model: str) -> FakeDeployer:
        made.append(environment)
        return FakeDeployer(f"{environment}-fn")

    deps = Deps(
        env={
            "MLOPS_TABLE": "t",
            "SLACK_CHANNEL": "C1",
            "DEPLOY_TARGETS": STAGE_ONLY,
            "SMOKE_MAX_LATENCY_MS": "1000",
        },
        clock=FakeClock(),
        runs=FakeRunStore(),
        locks=FakeLockStore(),
        deployed=FakeDeployedStateStore(),
        notifier=FakeNotifier(),
        deployer_factory=factory,
    )
    return deps, made


MODEL = {
    "model_name": "ships",
    "model_version": "2",
    "image_uri": "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:2",
    "artifact": {"kind": "image", "uri": "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:2"},
    "smoke_input": json.dumps({"inputs": [{"a": 1.0}]}),
}
EVENTS: dict[str, tuple[ModuleType, dict[str, Any]]] = {
    "deploy": (deploy, {"model": MODEL, "approval": {"approval_id": "a1"}}),
    "smoke_test": (smoke_test, {"model": MODEL, "deploy": {"new_version": "2"}}),
    "rollback": (rollback, {"model": MODEL, "deploy": {"previous_version": "1", "new_version": "2"}}),
    "rollback (recover)": (
        rollback,
        {"mode": "recover", "model": MODEL, "error": {"Error": "Sandbox.Timedout", "Cause": "x"}},
    ),
}


@pytest.mark.parametrize("handler", sorted(EVENTS))
def test_a_stage_function_refuses_prod_and_touches_nothing(handler: str) -> None:
    deps, made = _stage_function()
    module, extra = EVENTS[handler]
    with pytest.raises(ConfigError, match="no deploy target 'prod' \\(configured: stage\\)"):
        module.handle({"execution": EXECUTION, "environment": "prod", **extra}, deps)
    assert made == []  # no deployer: no role assumed, nothing invoked
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}
    assert isinstance(deps.runs, FakeRunStore) and deps.runs.items == {}  # nothing reported either
    assert isinstance(deps.notifier, FakeNotifier) and deps.notifier.messages == {}


@pytest.mark.parametrize("handler", sorted(h for h in EVENTS if "recover" not in h))
def test_a_function_refuses_a_model_it_has_no_function_for_and_touches_nothing(handler: str) -> None:
    """A classifier must never land in the regressor's function: undeclared names stop here."""
    deps, made = _stage_function()
    module, extra = EVENTS[handler]
    churn = {**MODEL, "model_name": "churn", "artifact": {**MODEL["artifact"], "sha256": "ab" * 32}}
    with pytest.raises(ConfigError, match=r"'churn' is not declared in stage.*Terraform variable `models`"):
        module.handle({"execution": EXECUTION, "environment": "stage", **extra, "model": churn}, deps)
    assert made == []
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}


def test_a_function_serves_the_environment_it_is_configured_for() -> None:
    deps, made = _stage_function()
    assert deps.require_environment("stage") == "stage"
    assert isinstance(deps.deployer("stage", EXECUTION, "ships"), FakeDeployer)
    assert made == ["stage"]
