"""The gradual rollout in prod: shift a share of ``live`` to the new version, then judge the bake.

Both run in the ``deploy_prod`` function (``"mode": "shift"`` / ``"check"``): it holds the prod
deploy role (which may move the alias and read the function's metrics) and the model's lock.
The state between steps is the state machine's ``$.rollout_prod``: the weight reached, when it
was shifted, how many bakes were added for lack of traffic. The policy is ``ROLLOUT_*``
(``domain.rollout``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mlops_pipeline import config
from mlops_pipeline.domain.deployment import Candidate
from mlops_pipeline.domain.errors import InvalidEventError, RolloutBreachError
from mlops_pipeline.domain.rollout import (
    FULL,
    SETTINGS,
    RolloutPolicy,
    judge,
    next_weight,
    step_summary,
)
from mlops_pipeline.handlers._runtime import Deps, logger

STEP = "RolloutProd"


def settings(deps: Deps) -> dict[str, str]:
    """This function's ``ROLLOUT_*`` settings that are set (the rest take their defaults)."""
    env = os.environ if deps.env is None else deps.env
    names = (*SETTINGS, "ROLLOUT_METRICS_DELAY_SECONDS")
    return {name: env[name] for name in names if env.get(name)}


def snapshot(deps: Deps, state: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The settings a running rollout started with (``state["policy"]``: a settings change never
    alters a rollout half-way), else this function's settings."""
    started = (state or {}).get("policy")
    if isinstance(started, Mapping):
        return {str(k): str(v) for k, v in started.items()}
    return settings(deps)


def policy(deps: Deps, state: Mapping[str, Any] | None = None) -> RolloutPolicy:
    """The rollout policy of ``snapshot``."""
    return RolloutPolicy.from_settings(snapshot(deps, state))


def gradual(deps: Deps, environment: str, previous_version: Callable[[], str | None]) -> bool:
    """True when this deploy publishes only and shifts traffic in steps afterwards: prod, mode
    ``gradual``, and a version behind ``live`` to share the traffic with (``previous_version``
    is asked only then: stage and ``all_at_once`` make no call for it)."""
    return environment == "prod" and policy(deps).mode == "gradual" and bool(previous_version())


def _versions(event: Mapping[str, Any]) -> tuple[str, str]:
    deploy = event.get("deploy")
    if not isinstance(deploy, Mapping) or not deploy.get("new_version") or not deploy.get("previous_version"):
        raise InvalidEventError("a rollout step needs deploy.previous_version and deploy.new_version")
    return str(deploy["previous_version"]), str(deploy["new_version"])


def _state(event: Mapping[str, Any]) -> dict[str, Any]:
    state = event.get("rollout")
    return dict(state) if isinstance(state, Mapping) else {}


def shift(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    """Move to the next step's weight; the new ``$.rollout_prod`` (``done`` at 100 %)."""
    execution, environment = str(event["execution"]), str(event["environment"])
    candidate = Candidate.from_evaluation(event["model"])
    previous, new = _versions(event)
    state = _state(event)
    started_with = snapshot(deps, state)
    rules = RolloutPolicy.from_settings(started_with)
    weight = next_weight(rules, int(state.get("weight") or 0))
    deployer = deps.deployer(environment, execution, candidate.model)
    deps.deployment.shift(execution, environment, candidate.model, deployer, (previous, new), weight)
    now = deps.clock.now()
    done = weight >= FULL
    bake = "" if done else f", baking {rules.bake_seconds} s"
    deps.reporter.step(
        execution, STEP, "SUCCEEDED", f"{weight} % of live → v{new} (v{previous}: {FULL - weight} %){bake}"
    )
    logger.info("traffic shifted", extra={"weight": weight, "new_version": new, "previous_version": previous})
    delay = config.get_int("ROLLOUT_METRICS_DELAY_SECONDS", started_with)
    return {
        "policy": started_with,
        "weight": weight,
        "shifted_at": now.isoformat(),
        "extensions": 0,
        "wait_seconds": 0 if done else rules.bake_seconds + delay,
        "done": done,
        "verdict": "advance" if done else "bake",
    }


def check(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    """Judge the bake since the last shift; RolloutBreachError (naming the metric) on a breach."""
    execution, environment = str(event["execution"]), str(event["environment"])
    candidate = Candidate.from_evaluation(event["model"])
    previous, new = _versions(event)
    state = _state(event)
    rules = policy(deps, state)
    try:
        since = datetime.fromisoformat(str(state["shifted_at"]))
        weight = int(state["weight"])
    except (KeyError, ValueError) as exc:
        raise InvalidEventError(f"rollout state without a valid shifted_at and weight: {exc}") from None
    extensions = int(state.get("extensions") or 0)
    deps.deployment.renew(execution, environment, candidate.model)  # a rollout outlasts one lease
    deployer = deps.deployer(environment, execution, candidate.model)
    now = deps.clock.now()
    served = deployer.bake_metrics([new, previous], since, now)
    verdict = judge(rules, served[new], served.get(previous), extensions)
    baked = max(1, int((now - since).total_seconds()))
    summary = step_summary(weight, served[new], baked)
    logger.info("bake judged", extra={"action": verdict.action, "reason": verdict.reason, "weight": weight})
    if verdict.action == "rollback":
        # Reported once, by the state machine's ReportRolloutProdFailed after the rollback.
        raise RolloutBreachError(f"{verdict.reason} at {weight} % of live (metric: {verdict.metric})")
    deps.reporter.step(execution, STEP, "SUCCEEDED", f"{summary}: {verdict.reason}")
    if verdict.action == "extend":
        extensions += 1
    return {**state, "extensions": extensions, "verdict": verdict.action, "done": False}
