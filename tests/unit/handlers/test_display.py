"""Step names and error summaries as the handlers word them for the run's thread."""

import json

import pytest

from mlops_pipeline.handlers.display import environment_label, error_summary


@pytest.mark.parametrize(("environment", "label"), [("stage", "Stage"), ("prod", "Prod"), ("qa", "Qa")])
def test_environment_label_completes_the_asl_step_name(environment: str, label: str) -> None:
    assert environment_label(environment) == label


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (None, ""),
        ({}, ""),
        ({"Error": "States.Timeout"}, "States.Timeout"),
        ({"Error": "X", "Cause": "plain words"}, "X: plain words"),
        ({"Error": "X", "Cause": json.dumps({"errorMessage": "image not found"})}, "X: image not found"),
        ({"Error": "X", "Cause": json.dumps({"Message": "denied"})}, "X: denied"),
        ({"Error": "X", "Cause": json.dumps({"BuildStatus": "FAILED"})}, "X: FAILED"),
        ({"Error": "X", "Cause": "{not json"}, "X: {not json"),
        ({"Error": "X", "Cause": "{}"}, "X: {}"),
    ],
)
def test_error_summary(error: dict[str, str] | None, summary: str) -> None:
    assert error_summary(error) == summary


def test_error_summary_is_bounded() -> None:
    assert len(error_summary({"Error": "X", "Cause": "c" * 5000})) == 600
