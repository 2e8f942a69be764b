"""The demo's summary of a failed build shows the end of its log and where the whole log is."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from rich.console import Console

from mlops_pipeline.domain.models import RunRecord, StepLog, StepStatus
from mlops_pipeline.local.stack import demo, demo_format
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.state import StackInfo
from tests.fakes import FakeRunStore

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-3"
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
LOG = StepLog(
    "/state/logs/codebuild/mlops-train:3.log",
    ("[Container] Running command python train.py", "ModuleNotFoundError: No module named 'skleran'"),
)


class Client:
    """The StackClient's run records only."""

    def __init__(self, runs: FakeRunStore) -> None:
        self._runs = runs

    def runs(self) -> FakeRunStore:
        return self._runs


def info() -> StackInfo:
    fields: dict[str, Any] = {name: "" for name in StackInfo.__dataclass_fields__}
    fields.update(
        pid=1,
        mlflow_pid=None,
        credentials={},
        approvers=[],
        ports={},
        timings={},
        slack_mode="local",
        inference_functions={},
    )
    return StackInfo(**fields)


def test_the_summary_of_a_failed_build_shows_its_last_log_lines_and_the_log_file() -> None:
    runs = FakeRunStore()
    runs.create_if_absent(RunRecord(execution=EXECUTION, started_at=T0))
    runs.record_step(EXECUTION, StepStatus("Pipeline", "STARTED", T0))
    runs.record_step(EXECUTION, StepStatus("Train", "FAILED", T0, "States.TaskFailed", log=LOG))
    client = cast(StackClient, Client(runs))
    assert demo.failed_build_log(client, EXECUTION) == ("Train", LOG)

    result = demo.DemoResult(
        outcome="failed", execution=EXECUTION, commit="c0ffee", total_seconds=12.0, failed_log=("Train", LOG)
    )
    console = Console(record=True, width=200)
    demo.print_summary(result, info(), console)
    shown = console.export_text()
    assert "[Container] Running command python train.py" in shown  # printed as text, not markup
    assert "ModuleNotFoundError: No module named 'skleran'" in shown
    assert "full log" in shown and "/state/logs/codebuild/mlops-train:3.log" in shown


def test_a_run_without_a_build_log_has_none() -> None:
    runs = FakeRunStore()
    runs.create_if_absent(RunRecord(execution=EXECUTION, started_at=T0))
    runs.record_step(EXECUTION, StepStatus("Evaluate", "FAILED", T0, "gate"))
    assert demo.failed_build_log(cast(StackClient, Client(runs)), EXECUTION) is None
    assert demo.failed_build_log(cast(StackClient, Client(FakeRunStore())), "missing") is None


CLASSIFIED = {
    "model_name": "churn",
    "model_version": "4",
    "predictions": ["yes", "no"],
    "probabilities": [[0.1, 0.9], [0.75, 0.25]],
    "classes": ["no", "yes"],
}


def test_a_classifiers_prediction_shows_each_class_with_its_probability() -> None:
    assert (
        demo_format.prediction_text(CLASSIFIED) == "yes (no: 0.100, yes: 0.900); no (no: 0.750, yes: 0.250)"
    )
    unnamed = {"predictions": [1], "probabilities": [[0.2, 0.8]]}
    assert demo_format.prediction_text(unnamed) == "1 (0: 0.200, 1: 0.800)"
    assert demo_format.prediction_text({"predictions": [12.5, 3.0]}) == "[12.5, 3.0]"  # a regressor
    assert demo_format.prediction_text({"result": None}) == '{"result": null}'


def test_the_summary_shows_the_serving_flavour_its_fallback_reason_and_the_probabilities() -> None:
    evaluation = {
        "serving_flavor": "skops",
        "serving_fallback_reason": "onnx export failed: [SVR] no converter",
    }
    result = demo.DemoResult(
        outcome="succeeded",
        execution=EXECUTION,
        commit="c0ffee",
        total_seconds=12.0,
        evaluation=evaluation,
        prediction={"request": {}, "response": CLASSIFIED},
    )
    console = Console(record=True, width=200)
    demo.print_summary(result, info(), console)
    shown = console.export_text()
    assert re.search(r"serving +skops \(fallback: onnx export failed: \[SVR\] no converter\)", shown)
    assert "prediction from prod (alias live): yes (no: 0.100, yes: 0.900)" in shown


def test_the_summary_names_the_models_own_function_and_its_live_versions() -> None:
    result = demo.DemoResult(
        outcome="succeeded",
        execution=EXECUTION,
        commit="c0ffee",
        total_seconds=12.0,
        model_name="churn",
        model_version="4",
        stage_version="3",
        prod_version="2",
        functions={"stage": "mlops-churn", "prod": "mlops-churn"},
    )
    console = Console(record=True, width=200)
    demo.print_summary(result, info(), console)
    shown = console.export_text()
    assert re.search(r"function +mlops-churn \(stage, prod\)", shown)
    assert re.search(r"stage live +v3", shown) and re.search(r"prod live +v2", shown)
    assert demo_format.functions_text({"stage": "a", "prod": "b"}) == "stage: a, prod: b"


def test_the_summary_of_an_undeclared_models_run_has_no_function_nor_versions() -> None:
    result = demo.DemoResult(
        outcome="failed", execution=EXECUTION, commit="c0ffee", total_seconds=3.0, model_name="other"
    )
    console = Console(record=True, width=200)
    demo.print_summary(result, info(), console)
    shown = console.export_text()
    assert re.search(r"model +other v-", shown)
    assert "function" not in shown
    assert re.search(r"stage live +-", shown) and re.search(r"prod live +-", shown)
