"""The gradual rollout in prod on the real ASL: alias weights, bakes judged on the emulator's CloudWatch.

The session stack moves prod at once; these tests switch the deploy_prod function to a gradual
policy (as Terraform's ``rollout`` variable would) and drive traffic at prod's ``live`` alias
during the bakes, as a production's callers would.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops_pipeline.local.emulator import lambda_runtime
from tests.asl.conftest import Pipeline

pytestmark = [pytest.mark.asl, pytest.mark.slow]

# Two steps (50 % then 100 %) so a few dozen requests judge the new version; the p99 ratio is off:
# every local invocation is a cold process, so durations say nothing here.
GRADUAL = {
    "ROLLOUT_MODE": "gradual",
    "ROLLOUT_STEPS": "50,100",
    "ROLLOUT_BAKE_SECONDS": "6",
    "ROLLOUT_MAX_P99_RATIO": "off",
    "ROLLOUT_METRICS_DELAY_SECONDS": "0",
}


def set_policy(pipeline: Pipeline, settings: dict[str, str]) -> dict[str, str]:
    """deploy_prod's ROLLOUT_* as Terraform's ``rollout`` variable would set them; the previous env."""
    lam = pipeline.emu.client("lambda")
    name = pipeline.stack.function_name("deploy_prod")
    before = dict(lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {**before, **settings}})
    return before


@contextmanager
def rollout_policy(pipeline: Pipeline, **settings: str) -> Iterator[None]:
    """deploy_prod with the gradual policy ``GRADUAL`` + ``settings`` for one test."""
    before = set_policy(pipeline, {**GRADUAL, **settings})
    runtime = lambda_runtime.active()
    assert runtime is not None
    runtime.router.seed(7)  # the same versions answer the same requests on every run
    try:
        yield
    finally:
        set_policy(pipeline, before)
        runtime.router.seed(None)


class Traffic:
    """Callers of prod's ``live``: one request at a time while the alias routes to two versions."""

    def __init__(self, pipeline: Pipeline, model: str, execution: str) -> None:
        self.pipeline, self.model, self.execution = pipeline, model, execution
        self.served: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _weighted(self, lam: Any, function: str) -> bool:
        alias = lam.get_alias(FunctionName=function, Name="live")
        return bool((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"))

    def _run(self) -> None:
        lam = self.pipeline.emu.client("lambda", "prod")
        sfn = self.pipeline.emu.client("stepfunctions")
        function = self.pipeline.stack.inference_function_for(self.model)
        x = 0
        while not self._stop.is_set():
            if sfn.describe_execution(executionArn=self.execution)["status"] != "RUNNING":
                return
            if not self._weighted(lam, function):
                self._stop.wait(0.3)
                continue
            x += 1
            answer = lam.invoke(
                FunctionName=f"{function}:live", Payload=json.dumps({"inputs": [{"x": float(x)}]}).encode()
            )
            version = str(answer.get("ExecutedVersion", "?"))
            self.served[version] += 1
            if answer.get("FunctionError"):
                self.failed[version] += 1


def wait_with_traffic(pipeline: Pipeline, runs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Wait for each execution (model -> execution) while callers keep calling its prod ``live``."""
    callers = {model: Traffic(pipeline, model, execution) for model, execution in runs.items()}
    for traffic in callers.values():
        traffic.__enter__()
    results = {}
    try:
        for model, execution in runs.items():
            results[model] = pipeline.stack.wait(execution, timeout=400)
    finally:
        for traffic in callers.values():
            traffic.__exit__(None, None, None)
    for model, execution in runs.items():
        results[model]["served"], results[model]["failed"] = (
            dict(callers[model].served),
            dict(callers[model].failed),
        )
        print(f"\n{model}:")
        print(
            "\n".join(f"  {name:28s} {seconds:6.1f}s" for name, seconds in pipeline.stack.timings(execution))
        )
    return results


def start_and_approve(pipeline: Pipeline, specs: list[dict[str, Any]]) -> dict[str, str]:
    """Push each spec, start its run (all together: they build side by side) and approve each."""
    runs = {str(spec["name"]): pipeline.stack.start(pipeline.commit(spec)) for spec in specs}
    for execution in runs.values():
        assert pipeline.click(pipeline.wait_for_card(execution), "approve")[0] == 200
    return runs


def alias(pipeline: Pipeline, model: str) -> dict[str, Any]:
    lam = pipeline.emu.client("lambda", "prod")
    return dict(lam.get_alias(FunctionName=pipeline.stack.inference_function_for(model), Name="live"))


def rollout_lines(pipeline: Pipeline, execution: str) -> list[str]:
    run = pipeline.runs.get(execution)
    assert run is not None
    return [s.detail for s in run.steps if s.step == "RolloutProd"]


def test_a_healthy_rollout_reaches_100_and_a_flaky_version_is_rolled_back_at_the_first_step(
    pipeline: Pipeline,
) -> None:
    """Two models rolled out side by side (each under its own lock), callers calling both."""
    ok, flaky = "rollout-ok", "rollout-flaky"
    for model in (ok, flaky):
        pipeline.stack.declare_model(model)
    before = {m: pipeline.live("prod", m) for m in (ok, flaky)}
    with rollout_policy(pipeline):
        runs = start_and_approve(
            pipeline,
            [
                {"name": ok, "metrics": {"rmse": 3.0}},
                {"name": flaky, "metrics": {"rmse": 3.0}, "behaviour": "flaky-in-prod"},
            ],
        )
        results = wait_with_traffic(pipeline, runs)
    registry = MlflowClient(pipeline.mlflow.url)

    # The healthy version: 50 %, a bake with 0 errors, 100 %, promoted.
    execution, result = runs[ok], results[ok]
    assert result["status"] == "SUCCEEDED", pipeline.stack.states(execution)
    states = pipeline.stack.states(execution)
    assert states.count("ShiftTrafficProd") == 2 and "CheckBakeProd" in states
    after = alias(pipeline, ok)
    new = after["FunctionVersion"]
    assert int(new) == int(before[ok]) + 1
    assert not (after.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    lines = rollout_lines(pipeline, execution)
    assert lines[0] == f"50 % of live → v{new} (v{before[ok]}: 50 %), baking 6 s", lines
    assert any(line.startswith(f"50 % → v{new}, 0 errors in") for line in lines), lines
    assert result["served"].get(new, 0) > 0, result["served"]
    assert registry.get_model_version_by_alias(ok, "production").tags["prod_lambda_version"] == new

    # The flaky version: rolled back at the first step, all of prod back on the previous version.
    execution, result = runs[flaky], results[flaky]
    assert result["status"] == "FAILED", pipeline.stack.states(execution)
    states = pipeline.stack.states(execution)
    assert states[-3:] == ["RollbackRolloutProd", "ReportRolloutProdFailed", "RolloutProdFailed"], states
    assert states.count("ShiftTrafficProd") == 1
    after = alias(pipeline, flaky)
    assert after["FunctionVersion"] == before[flaky]
    assert not (after.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    production = [v for v in registry.search_model_versions(f"name='{flaky}'") if "production" in v.aliases]
    assert production == []  # the registry's production alias never moved
    bad = str(int(before[flaky]) + 1)
    served, failed = result["served"].get(bad, 0), result["failed"].get(bad, 0)
    print(f"\nrollout-flaky: the bad v{bad} served {served} requests ({failed} failed) before the rollback")
    assert failed > 0
    thread = html.unescape(" ".join(m.text for m in pipeline.thread(execution)))
    assert f"% > 1.0 % on v{bad}" in thread, thread  # the report names the breached metric
    assert f"live back to v{before[flaky]}" in thread, thread


def test_a_bake_without_traffic_follows_each_rule(pipeline: Pipeline) -> None:
    """pass -> promoted; extend -> baked again, then rolled back; fail -> rolled back. The runs
    build side by side; each is approved once the one before has started its rollout (a running
    rollout keeps the policy it started with)."""
    rules = {"pass": "SUCCEEDED", "extend": "FAILED", "fail": "FAILED"}
    models = {rule: f"rollout-quiet-{rule}" for rule in rules}
    for model in models.values():
        pipeline.stack.declare_model(model)
    before = {rule: pipeline.live("prod", m) for rule, m in models.items()}
    with rollout_policy(pipeline, ROLLOUT_MAX_EXTENSIONS="1", ROLLOUT_BAKE_SECONDS="2"):
        runs = {
            rule: pipeline.stack.start(pipeline.commit({"name": m, "metrics": {"rmse": 3.0}}))
            for rule, m in models.items()
        }
        for rule, execution in runs.items():
            card = pipeline.wait_for_card(execution)
            set_policy(pipeline, {"ROLLOUT_NO_TRAFFIC": rule})
            assert pipeline.click(card, "approve")[0] == 200
            deadline = time.monotonic() + 120
            while "BakeProd" not in pipeline.stack.states(execution) and time.monotonic() < deadline:
                time.sleep(0.5)
        results = {rule: pipeline.stack.wait(execution, timeout=400) for rule, execution in runs.items()}
    for rule, outcome in rules.items():
        execution = runs[rule]
        assert results[rule]["status"] == outcome, (rule, pipeline.stack.states(execution))
        checks = pipeline.stack.states(execution).count("CheckBakeProd")
        after = alias(pipeline, models[rule])["FunctionVersion"]
        if rule == "pass":
            assert checks == 1 and int(after) == int(before[rule]) + 1
        else:
            assert checks == (2 if rule == "extend" else 1) and after == before[rule], rule
            assert "no requests reached" in " ".join(m.text for m in pipeline.thread(execution))
