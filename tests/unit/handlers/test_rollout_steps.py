"""The gradual rollout in prod, through the deploy_prod handler: publish, smoke the version, shift, bake, judge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mlops_pipeline.domain.errors import (
    ConfigError,
    DeploymentLockedError,
    MetricsUnavailableError,
    RolloutBreachError,
)
from mlops_pipeline.domain.rollout import BakeMetrics
from mlops_pipeline.handlers import deploy, promote, rollback, rollout_steps, smoke_test
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock, FakeLockStore
from tests.unit.handlers.test_handlers import EXECUTION, approved, deps, fake_deployer, model

__all__ = ["deps"]

GRADUAL = {"ROLLOUT_MODE": "gradual", "ROLLOUT_STEPS": "10,50,100", "ROLLOUT_BAKE_SECONDS": "60"}


@pytest.fixture
def prod(deps: Deps) -> tuple[Deps, dict[str, Any], dict[str, Any]]:
    """deps with the gradual policy; the model approved and deployed to prod (published only)."""
    assert deps.env is not None
    deps.env = {**deps.env, **GRADUAL, "ROLLOUT_METRICS_DELAY_SECONDS": "0"}
    m = model(deps)
    deployed = deploy.handle(
        {"execution": EXECUTION, "environment": "prod", "model": m, "approval": approved(deps, m)}, deps
    )
    return deps, m, deployed


def step(
    deps: Deps, m: dict[str, Any], d: dict[str, Any], mode: str, state: dict[str, Any]
) -> dict[str, Any]:
    event = {
        "execution": EXECUTION,
        "environment": "prod",
        "mode": mode,
        "model": m,
        "deploy": d,
        "rollout": state,
    }
    return deploy.handle(event, deps)


def test_a_gradual_deploy_publishes_without_moving_live_and_the_smoke_test_calls_the_version(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    fn = fake_deployer(deps, "prod")
    assert d["gradual"] is True and (d["previous_version"], d["new_version"]) == ("1", "2")
    assert fn.alias == "1" and fn.weights == {}  # nobody is served v2 yet
    assert isinstance(deps.locks, FakeLockStore) and "deploy-prod-ships" in deps.locks.locks
    smoke_test.handle({"execution": EXECUTION, "environment": "prod", "model": m, "deploy": d}, deps)
    assert fn.qualifiers[-1] == "2"


def test_a_healthy_rollout_goes_step_by_step_to_100_and_then_promotes(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    fn = fake_deployer(deps, "prod")
    state: dict[str, Any] = {"weight": 0, "extensions": 0}
    weights = []
    while True:
        state = step(deps, m, d, "shift", state)
        weights.append(state["weight"])
        if state["done"]:
            break
        assert state["wait_seconds"] == 60
        fn.metrics = {"2": BakeMetrics("2", invocations=200, errors=1, p99_ms=40.0)}
        assert isinstance(deps.clock, FakeClock)
        deps.clock.advance(60)
        state = step(deps, m, d, "check", state)
        assert state["verdict"] == "advance"
    assert weights == [10, 50, 100]
    assert fn.shifts == [("2", 10), ("2", 50), ("2", 100)]
    assert fn.alias == "2" and fn.weights == {}
    run = deps.runs.get(EXECUTION)
    assert run is not None
    lines = [s.detail for s in run.steps if s.step == "RolloutProd"]
    assert lines[0] == "10 % of live → v2 (v1: 90 %), baking 60 s"
    assert lines[1].startswith("10 % → v2, 1 errors in 1 min (200 requests)")
    smoke = {"passed": True}
    promote.handle(
        {
            "execution": EXECUTION,
            "environment": "prod",
            "model": m,
            "deploy": d,
            "smoke": smoke,
            "approval": {},
        },
        deps,
    )
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}


def test_a_version_failing_a_fifth_of_its_requests_is_rolled_back_at_the_first_step(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    fn = fake_deployer(deps, "prod")
    state = step(deps, m, d, "shift", {"weight": 0, "extensions": 0})
    assert fn.weights == {"2": 10}
    fn.metrics = {"2": BakeMetrics("2", invocations=50, errors=10), "1": BakeMetrics("1", invocations=450)}
    with pytest.raises(
        RolloutBreachError,
        match=r"^errors 20\.0 % > 1\.0 % on v2 \(10 of 50 requests\) at 10 % of live \(metric: errors\)$",
    ):
        step(deps, m, d, "check", state)
    # The state machine's RollbackRolloutProd: all traffic back to v1, weights cleared, lock freed.
    error = {"Error": "RolloutBreachError", "Cause": "errors 20.0 % > 1.0 % on v2"}
    out = rollback.handle(
        {"execution": EXECUTION, "environment": "prod", "model": m, "deploy": d, "error": error}, deps
    )
    assert out["rolled_back_to"] == "1"
    assert fn.alias == "1" and fn.weights == {}
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}
    assert deps.deployed.get("prod", "ships") is None  # never recorded as what prod runs
    assert deps.registry.get_by_alias("ships", "production") is None  # the registry untouched


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("pass", "advance"), ("extend", "extend"), ("fail", None)],
)
def test_a_bake_without_traffic_follows_the_rule(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]], rule: str, expected: str | None
) -> None:
    deps, m, d = prod
    assert deps.env is not None
    deps.env = {**deps.env, "ROLLOUT_NO_TRAFFIC": rule, "ROLLOUT_MAX_EXTENSIONS": "1"}
    state = step(deps, m, d, "shift", {"weight": 0, "extensions": 0})
    if expected is None:
        with pytest.raises(RolloutBreachError, match=r"no requests reached v2 .*\(metric: no_traffic\)"):
            step(deps, m, d, "check", state)
        return
    state = step(deps, m, d, "check", state)
    assert state["verdict"] == expected
    if rule == "extend":
        assert state["extensions"] == 1
        with pytest.raises(RolloutBreachError, match="after 1 extensions"):
            step(deps, m, d, "check", state)


def test_unreadable_metrics_and_a_bad_policy_are_errors_not_verdicts(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    fn = fake_deployer(deps, "prod")
    state = step(deps, m, d, "shift", {"weight": 0, "extensions": 0})
    fn.fail_metrics = "AccessDenied: cloudwatch:GetMetricData"
    with pytest.raises(MetricsUnavailableError):
        step(deps, m, d, "check", state)
    assert deps.env is not None
    deps.env = {**deps.env, "ROLLOUT_STEPS": "50,10"}
    with pytest.raises(ConfigError, match="ROLLOUT_STEPS must be increasing"):
        step(deps, m, d, "shift", {"weight": 0, "extensions": 0})  # a rollout that starts now
    assert fn.weights == {"2": 10}  # nothing moved on a bad setting


def test_a_running_rollout_keeps_the_policy_it_started_with(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    fn = fake_deployer(deps, "prod")
    state = step(deps, m, d, "shift", {"weight": 0, "extensions": 0})
    assert state["policy"]["ROLLOUT_STEPS"] == "10,50,100"
    assert deps.env is not None
    deps.env = {**deps.env, "ROLLOUT_STEPS": "100", "ROLLOUT_NO_TRAFFIC": "pass"}  # changed meanwhile
    with pytest.raises(RolloutBreachError, match="no requests"):  # still the default rule extend, 0 left
        step(deps, m, d, "check", {**state, "extensions": 2})
    fn.metrics = {"2": BakeMetrics("2", invocations=10)}
    state = step(deps, m, d, "check", state)
    assert step(deps, m, d, "shift", state)["weight"] == 50  # not 100: the started steps


def test_all_at_once_and_a_first_deployment_move_live_at_the_deploy(deps: Deps) -> None:
    assert deps.env is not None
    m = model(deps)
    d = deploy.handle(
        {"execution": EXECUTION, "environment": "prod", "model": m, "approval": approved(deps, m)}, deps
    )
    assert d["gradual"] is False and fake_deployer(deps, "prod").alias == "2"  # ROLLOUT_MODE all_at_once
    deps.env = {**deps.env, **GRADUAL}
    stage = deploy.handle({"execution": EXECUTION, "environment": "stage", "model": m}, deps)
    assert stage["gradual"] is False and fake_deployer(deps, "stage").alias == "2"  # stage: never gradual


def test_only_a_gradual_prod_deploy_asks_which_version_is_live(deps: Deps) -> None:
    # The question is a GetAlias on the target account: stage and all_at_once never make it.
    assert deps.env is not None
    asked: list[str] = []

    def live() -> str | None:
        asked.append("live")
        return "1"

    assert rollout_steps.gradual(deps, "prod", live) is False and asked == []  # all_at_once
    deps.env = {**deps.env, **GRADUAL}
    assert rollout_steps.gradual(deps, "stage", live) is False and asked == []
    assert rollout_steps.gradual(deps, "prod", live) is True and asked == ["live"]
    assert rollout_steps.gradual(deps, "prod", lambda: None) is False  # a first deployment


def test_each_step_renews_the_lock_and_a_lost_lock_stops_the_rollout(
    prod: tuple[Deps, dict[str, Any], dict[str, Any]],
) -> None:
    deps, m, d = prod
    locks = deps.locks
    assert isinstance(locks, FakeLockStore) and isinstance(deps.clock, FakeClock)
    state = step(deps, m, d, "shift", {"weight": 0, "extensions": 0})
    deps.clock.advance(600)
    fake_deployer(deps, "prod").metrics = {"2": BakeMetrics("2", invocations=10)}
    step(deps, m, d, "check", state)
    assert locks.locks["deploy-prod-ships"].expires_at == deps.clock.now() + timedelta(seconds=900)
    deps.clock.advance(901)  # the lease ran out and another run took the lock
    locks.acquire("deploy-prod-ships", "someone-else", deps.clock.now(), 900)
    with pytest.raises(DeploymentLockedError):
        step(deps, m, d, "check", state)
