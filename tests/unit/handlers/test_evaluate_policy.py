"""Evaluate checks the version's gate tags against the pipeline's policy itself (defence in depth:
the build wrote the tags), and refuses a loosened gate instead of comparing with it."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.models import ModelVersionInfo
from mlops_pipeline.handlers import evaluate
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock, FakeNotifier, FakeRegistry, FakeRunStore

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1"
COMMIT = "c0ffee" * 6 + "abcd"
SHA = "ab" * 32
TRIGGER = {"commit": COMMIT, "repository": "models", "branch": "main", "pushed_at": "2026-11-26T11:00:00Z"}
EXPORTS = [
    {"Name": "MODEL_NAME", "Value": "ships"},
    {"Name": "MODEL_VERSION", "Value": "2"},
    {"Name": "ARTIFACT_URI", "Value": "s3://mlops-artifacts/serving/ships/ships-2.zip?versionId=v1"},
    {"Name": "ARTIFACT_KIND", "Value": "zip"},
    {"Name": "ARTIFACT_SHA256", "Value": SHA},
    {"Name": "RUN_ID", "Value": "run2"},
]
# The champion (v1) has rmse 10; the candidate's 10.4 is 4 % worse.
POLICY_ENV = {"GATE_METRIC": "rmse", "GATE_DIRECTION": "lower", "GATE_MAX_TOLERANCE": "0.05"}


class ComparingRegistry(FakeRegistry):
    """Counts reads of the champion: a refused candidate is never compared with it."""

    champion_reads = 0

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        self.champion_reads += 1
        return super().get_champion(model_name)


def deps_with(gate_tags: dict[str, str], env: dict[str, str]) -> Deps:
    registry = ComparingRegistry()
    registry.add("ships", "1", {"rmse": 10.0, "r2": 0.9}, git_commit="old")
    registry.set_alias("ships", "production", "1")
    registry.add("ships", "2", {"rmse": 10.4, "r2": 0.1}, git_commit=COMMIT, **gate_tags)
    return Deps(
        env={"MLOPS_TABLE": "t", "SLACK_CHANNEL": "CPIPE", **env},
        clock=FakeClock(),
        runs=FakeRunStore(),
        notifier=FakeNotifier(),
        registry=registry,
        slack_bot_token="xoxb-test",
    )


def run_evaluate(deps: Deps) -> dict[str, Any]:
    return evaluate.handle({"execution": EXECUTION, "input": TRIGGER, "build": {"exported": EXPORTS}}, deps)


@pytest.mark.parametrize(
    ("tags", "refusal"),
    [
        # r2 "lower" would pass (0.1 <= 0.9) a model worse than the champion: the metric is fixed.
        ({"gate_metric": "r2", "gate_direction": "lower"}, "tag gate_metric (mlops.toml gate.metric) = 'r2'"),
        (
            {"gate_metric": "rmse", "gate_direction": "higher"},
            "tag gate_direction (mlops.toml gate.direction)",
        ),
        (
            {"gate_metric": "rmse", "gate_tolerance": "0.5"},
            "gate_tolerance (mlops.toml gate.tolerance) = 0.5",
        ),
        ({"gate_tolerance": "inf"}, "gate_tolerance (mlops.toml gate.tolerance) must be a finite number"),
    ],
)
def test_a_version_whose_tags_loosen_the_policy_is_refused_not_compared(
    tags: dict[str, str], refusal: str
) -> None:
    deps = deps_with(tags, POLICY_ENV)
    with pytest.raises(ConfigError, match="ships v2's ") as refused:
        run_evaluate(deps)
    assert refusal in str(refused.value)
    # Refused before any comparison (the ASL's Catch reports the error: EvaluationFailed).
    assert isinstance(deps.registry, ComparingRegistry) and deps.registry.champion_reads == 0


def test_tags_within_the_policy_are_compared() -> None:
    # 10.4 is within a 5 % tolerance of 10 (the cap itself), and fails a tightened 1 %.
    deps = deps_with({"gate_metric": "rmse", "gate_tolerance": "0.05"}, POLICY_ENV)
    assert run_evaluate(deps)["passed"]
    assert isinstance(deps.registry, ComparingRegistry) and deps.registry.champion_reads == 1
    tightened = run_evaluate(deps_with({"gate_tolerance": "0.01"}, POLICY_ENV))
    assert tightened["passed"] is False and tightened["tolerance"] == 0.01


def test_missing_tags_take_the_pipelines_gate() -> None:
    out = run_evaluate(deps_with({}, {**POLICY_ENV, "GATE_TOLERANCE": "0.05"}))
    assert (out["metric"], out["direction"], out["tolerance"], out["passed"]) == ("rmse", "lower", 0.05, True)
    assert run_evaluate(deps_with({}, {}))["passed"] is False  # the defaults: rmse, lower, 0


def test_the_default_policy_refuses_any_tolerance() -> None:
    with pytest.raises(ConfigError, match="GATE_MAX_TOLERANCE"):
        run_evaluate(deps_with({"gate_tolerance": "0.02"}, {}))


def test_gate_metric_any_lets_the_versions_metric_through() -> None:
    out = run_evaluate(deps_with({"gate_metric": "r2", "gate_direction": "higher"}, {"GATE_METRIC": "*"}))
    assert (out["metric"], out["passed"]) == ("r2", False)
