"""The demo's summary of a failed build shows the end of its log and where the whole log is."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from rich.console import Console

from mlops_pipeline.domain.models import RunRecord, StepLog, StepStatus
from mlops_pipeline.local.stack import demo, demo_format
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.demo_traffic import TrafficCount, smoke_request
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


# --------------------------------------------------------------------------- prod's rollout

POLICY = {"ROLLOUT_MODE": "gradual", "ROLLOUT_STEPS": "50,100", "ROLLOUT_BAKE_SECONDS": "10"}
DEPLOYED = {"deploy_prod": {"previous_version": "2", "new_version": "3", "gradual": True}}
BREACH = "errors 20.0 % > 1.0 % on v3 (3 of 15 requests) at 50 % of live (metric: error_rate)"


def traffic(served: dict[str, int], failed: dict[str, int], weights: list[int]) -> TrafficCount:
    return TrafficCount(Counter(served), Counter(failed), weights, "3")


def shown(result: demo.DemoResult) -> str:
    console = Console(record=True, width=240)
    demo.print_summary(result, info(), console)
    return console.export_text()


def test_a_gradual_rollout_that_reached_100_percent_shows_the_steps_and_the_bakes_traffic() -> None:
    outputs = {
        "DeployProd": DEPLOYED,
        "ShiftTrafficProd": {**DEPLOYED, "rollout_prod": {"weight": 100, "done": True, "policy": POLICY}},
        "BakeProd": {**DEPLOYED, "rollout_prod": {"weight": 50, "done": False, "policy": POLICY}},
    }
    report = demo_format.rollout_report(outputs, traffic({"3": 18, "2": 19}, {}, [50]), succeeded=True)
    assert report == demo_format.RolloutReport("gradual", "3", "2", (50, 100), {"3": 18, "2": 19}, {})
    text = "50 % → 100 %: v3 served 18 of 37 requests during the bake, 0 errors"
    assert demo_format.rollout_text(report) == text
    result = demo.DemoResult(
        outcome="succeeded", execution=EXECUTION, commit="c0ffee", total_seconds=1.0, rollout=report
    )
    assert re.search(r"rollout +50 % → 100 %: v3 served 18 of 37", shown(result))


def test_a_rolled_back_rollout_names_the_breached_metric_and_what_the_bad_version_served() -> None:
    cause = json.dumps({"errorMessage": BREACH, "errorType": "RolloutBreachError"})
    state = {**DEPLOYED, "rollout_prod": {"weight": 50, "verdict": "bake", "policy": POLICY}}
    outputs = {
        "DeployProd": DEPLOYED,
        "ShiftTrafficProd": state,
        "BakeProd": state,
        "RollbackRolloutProd": {**state, "error": {"Error": "RolloutBreachError", "Cause": cause}},
    }
    report = demo_format.rollout_report(outputs, traffic({"3": 7, "2": 8}, {"3": 3}, [50]), succeeded=False)
    assert report is not None and report.rolled_back and report.steps == (50,)
    assert demo_format.rollout_text(report) == (
        f"50 %, rolled back: {BREACH}; v3 served 7 of 15 requests before the rollback (3 errors); "
        "live back on v2"
    )
    result = demo.DemoResult(
        outcome="failed",
        execution=EXECUTION,
        commit="c0ffee",
        total_seconds=1.0,
        error="RolloutProdFailed",
        rollout=report,
    )
    assert "(metric: error_rate)" in shown(result)  # printed as text: brackets and all


def test_a_rollback_without_the_demos_traffic_and_a_failure_that_is_not_a_breach() -> None:
    state = {**DEPLOYED, "rollout_prod": {"weight": 50, "policy": POLICY}}
    error = {"Error": "MetricsUnavailableError", "Cause": "not json"}
    outputs = {"ShiftTrafficProd": state, "RollbackRolloutProd": {**state, "error": error}}
    report = demo_format.rollout_report(outputs, None, succeeded=False)
    assert report is not None
    assert demo_format.rollout_text(report) == (
        "50 %, rolled back: MetricsUnavailableError: not json; the demo sent no requests during the bake; "
        "live back on v2"
    )


def test_all_at_once_and_runs_that_never_deployed_prod() -> None:
    at_once = {"DeployProd": {"deploy_prod": {"previous_version": "2", "new_version": "3", "gradual": False}}}
    report = demo_format.rollout_report(at_once, None, succeeded=True)
    assert (
        report is not None
        and demo_format.rollout_text(report) == "all at once: v3 took 100 % of live from v2"
    )
    assert demo_format.rollout_report(at_once, None, succeeded=False) is None  # e.g. its smoke test failed
    assert demo_format.rollout_report({"Train": {"model": {}}}, None, succeeded=False) is None
    # A gradual rollout whose policy named no steps: the shares the traffic generator saw.
    unplanned = {"ShiftTrafficProd": {**DEPLOYED, "rollout_prod": {"weight": 100}}}
    report = demo_format.rollout_report(unplanned, traffic({"3": 2}, {}, [10]), succeeded=True)
    assert report is not None and report.steps == (10, 100)
    empty = demo_format.rollout_report(unplanned, TrafficCount(), succeeded=True)
    assert empty is not None
    assert demo_format.rollout_text(empty) == "100 %: no requests from the demo during the bake"


def test_the_progress_line_of_the_traffic_and_the_smoke_example_it_sends() -> None:
    assert TrafficCount().text() == ""
    count = traffic({"3": 4, "10": 1, "2": 5}, {"3": 1}, [50])
    assert count.total == 10
    assert count.text() == "traffic to prod live at 50 % to v3: 10 requests (v2: 5, v3: 4, v10: 1), 1 error"
    example = {"inputs": [{"distance_km": 3.0}]}
    outputs = {
        "Train": {"model": {"model_name": "other"}},
        "Evaluate": {"model": {"model_name": "churn", "smoke_input": example}},
    }
    assert smoke_request(outputs, "churn") == example
    assert smoke_request(outputs, "other") is None


class History:
    """A Step Functions client with one execution's history."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def client(self, service: str) -> History:
        return self

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        return {"status": "SUCCEEDED", "startDate": T0, "stopDate": T0 + timedelta(seconds=30)}

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        return {"events": self.events}


def test_a_state_the_rollout_enters_twice_is_two_steps_with_their_own_times() -> None:
    events: list[dict[str, Any]] = []
    for second, (kind, name, weight) in enumerate(
        [
            ("TaskStateEntered", "ShiftTrafficProd", None),
            ("TaskStateExited", "ShiftTrafficProd", 50),
            ("WaitStateEntered", "BakeProd", None),
            ("WaitStateExited", "BakeProd", 50),
            ("TaskStateEntered", "ShiftTrafficProd", None),
            ("TaskStateExited", "ShiftTrafficProd", 100),
            ("SucceedStateEntered", "Succeeded", None),
        ]
    ):
        at = T0 + timedelta(seconds=second * 10)
        if kind.endswith("Entered"):
            events.append({"type": kind, "timestamp": at, "stateEnteredEventDetails": {"name": name}})
        else:
            output = json.dumps({"rollout_prod": {"weight": weight}})
            events.append(
                {"type": kind, "timestamp": at, "stateExitedEventDetails": {"name": name, "output": output}}
            )
    view = demo.read_run(cast(StackClient, History(events)), EXECUTION)
    assert [(s.name, s.status, s.seconds) for s in view.steps] == [
        ("ShiftTrafficProd", "ok", 10.0),
        ("BakeProd", "ok", 10.0),
        ("ShiftTrafficProd #2", "ok", 10.0),
        ("Succeeded", "ok", 0),
    ]
    assert view.outputs["ShiftTrafficProd"] == {"rollout_prod": {"weight": 100}}  # the latest visit's
