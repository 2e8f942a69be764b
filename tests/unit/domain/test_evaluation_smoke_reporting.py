import json

import pytest

from mlops_pipeline.domain.errors import InvalidEventError, ModelNotFoundError
from mlops_pipeline.domain.evaluation import evaluate_candidate, parse_build_exports
from mlops_pipeline.domain.gate import GatePolicy
from mlops_pipeline.domain.models import InvokeResult
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.domain.smoke import check, expected_rows
from tests.fakes import FakeClock, FakeNotifier, FakeRegistry, FakeRunStore

EXPORTS = [
    {"Name": "MODEL_NAME", "Value": "ships"},
    {"Name": "MODEL_VERSION", "Value": "2"},
    {"Name": "IMAGE_URI", "Value": "repo:2"},
    {"Name": "RUN_ID", "Value": "run2"},
]


def test_parse_build_exports() -> None:
    out = parse_build_exports(EXPORTS)
    assert (out.model_name, out.model_version, out.image_uri, out.run_id) == ("ships", "2", "repo:2", "run2")
    with pytest.raises(InvalidEventError, match="IMAGE_URI, RUN_ID"):
        parse_build_exports(EXPORTS[:2])


def test_evaluate_uses_project_gate_and_champion() -> None:
    registry = FakeRegistry()
    registry.add("ships", "1", {"rmse": 10.0, "r2": 0.5}, git_commit="aaa")
    registry.set_alias("ships", "production", "1")
    registry.add(
        "ships",
        "2",
        {"rmse": 12.0, "r2": 0.6},
        git_commit="bbb",
        gate_metric="r2",
        gate_direction="higher",
        gate_tolerance="0",
        git_commit_time="1700",
        smoke_input=json.dumps({"inputs": [{"a": 1}]}),
    )
    out = evaluate_candidate(registry, parse_build_exports(EXPORTS), {"commit": "bbb"}, GatePolicy("rmse"))
    assert out["passed"] is True and out["metric"] == "r2" and out["champion_version"] == "1"
    assert out["commit_time"] == 1700 and out["smoke_input"] == {"inputs": [{"a": 1}]}
    assert out["champion_metrics"] == {"rmse": 10.0, "r2": 0.5}
    # With the default (rmse, lower) the same candidate fails.
    registry.set_tags("ships", "2", {"gate_metric": "rmse", "gate_direction": "lower"})
    assert (
        evaluate_candidate(registry, parse_build_exports(EXPORTS), {}, GatePolicy("rmse"))["passed"] is False
    )


def test_evaluate_refuses_version_of_another_commit() -> None:
    registry = FakeRegistry()
    registry.add("ships", "2", {"rmse": 1.0}, git_commit="other")
    with pytest.raises(ModelNotFoundError, match="built from other"):
        evaluate_candidate(registry, parse_build_exports(EXPORTS), {"commit": "bbb"}, GatePolicy("rmse"))


@pytest.mark.parametrize(
    ("example", "rows"),
    [
        ({"inputs": [{"a": 1}, {"a": 2}]}, 2),
        ({"inputs": {"a": [1, 2, 3]}}, 3),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]]}}, 1),
        ([{"a": 1}], 1),
        ("nonsense", None),
    ],
)
def test_expected_rows(example: object, rows: int | None) -> None:
    assert expected_rows(example) == rows


def test_smoke_check_outcomes() -> None:
    example = {"inputs": [{"a": 1}, {"a": 2}]}
    ok = check(
        InvokeResult(200, {"statusCode": 200, "predictions": [1, 2], "model_version": "9"}, None, 40.0, "3"),
        example,
        1000,
        "3",
        "9",
    )
    assert ok.passed and ok.rows == 2
    proxied = InvokeResult(
        200, {"statusCode": 200, "body": json.dumps({"predictions": [1, 2]})}, None, 5.0, "3"
    )
    assert check(proxied, example, 1000).passed
    cases = [
        (
            InvokeResult(200, {"errorType": "ValueError", "errorMessage": "boom"}, "Unhandled", 5, "3"),
            "ValueError: boom",
        ),
        (InvokeResult(200, {"predictions": [1]}, None, 5, "3"), "1 predictions for 2 input rows"),
        (InvokeResult(200, {"result": 1}, None, 5, "3"), "no 'predictions'"),
        (InvokeResult(200, {"predictions": [1, 2]}, None, 5000, "3"), "above the limit"),
        (InvokeResult(200, {"predictions": [1, 2]}, None, 5, "2"), "live ran version 2, expected 3"),
        (InvokeResult(200, {"statusCode": 400, "body": '{"error": "x"}'}, None, 5, "3"), "answered 400"),
        (InvokeResult(200, {"statusCode": 400, "error": {"field": "a"}}, None, 5, "3"), "answered 400"),
        (
            InvokeResult(200, {"predictions": [1, 2], "model_version": "7"}, None, 5, "3"),
            "serves model version 7",
        ),
    ]
    for result, reason in cases:
        outcome = check(result, example, 1000, "3", expected_model_version="9")
        assert not outcome.passed and reason in outcome.reason


def test_reporter_creates_one_thread_and_records_steps() -> None:
    runs, notifier = FakeRunStore(), FakeNotifier()
    reporter = Reporter(runs, notifier, FakeClock(), "C1")
    trigger = {"commit": "abc", "repository": "r", "branch": "main", "author": "ds"}
    reporter.step("exec", "Build", "STARTED", trigger=trigger)
    reporter.step("exec", "Build", "FAILED", "boom")
    record = runs.get("exec")
    assert record is not None and record.status == "FAILED"
    assert [s.status for s in record.steps] == ["STARTED", "FAILED"]
    thread = notifier.thread(record.slack_thread_ts or "")
    assert len(thread) == 3  # header + two progress replies
    assert all(m["thread_ts"] == record.slack_thread_ts for m in thread[1:])
