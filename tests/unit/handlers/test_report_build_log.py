"""The report of a failed CodeBuild step carries its log's last lines and location (issue 12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_pipeline.domain.errors import LogUnavailableError
from mlops_pipeline.handlers import report
from mlops_pipeline.handlers._runtime import Deps
from tests.fake_build_logs import FakeBuildLogs
from tests.fakes import FakeClock, FakeNotifier, FakeRunStore

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-7"
TRIGGER = {"commit": "ab12" * 10, "repository": "models", "branch": "main", "author": "dana"}
GROUP, STREAM = "/aws/codebuild/mlops-train", "5e3f7c1a-0000-1111-2222-333344445555"
LOCAL_FILE = "/work/.mlops-local/logs/codebuild/mlops-train:5e3f7c1a.log"
ERROR_LINE = "ModuleNotFoundError: No module named 'sklearn_but_misspelt'"


def failed_build_error(deep_link: str = f"file://{LOCAL_FILE}") -> dict[str, str]:
    build = {
        "Id": f"mlops-train:{STREAM}",
        "BuildStatus": "FAILED",
        "Phases": [
            {"PhaseType": "BUILD", "PhaseStatus": "FAILED", "Contexts": [{"Message": "exit status 1"}]}
        ],
        "Logs": {"GroupName": GROUP, "StreamName": STREAM, "DeepLink": deep_link},
    }
    return {"Error": "States.TaskFailed", "Cause": json.dumps({"Build": build})}


@pytest.fixture
def logs() -> FakeBuildLogs:
    logs = FakeBuildLogs()
    logs.put(
        GROUP, STREAM, "[Container] Running command python train.py", "Traceback (most recent call last):"
    )
    logs.put(GROUP, STREAM, "    import sklearn_but_misspelt", ERROR_LINE)
    logs.put(GROUP, STREAM, "[Container] Phase complete: BUILD State: FAILED")
    return logs


@pytest.fixture
def deps(logs: FakeBuildLogs) -> Deps:
    return Deps(
        env={"MLOPS_TABLE": "t", "SLACK_CHANNEL": "CPIPE"},
        clock=FakeClock(),
        runs=FakeRunStore(),
        notifier=FakeNotifier(),
        build_logs=logs,
    )


def report_failure(deps: Deps, step: str, error: dict[str, str]) -> None:
    event = {"execution": EXECUTION, "input": TRIGGER, "step": step, "status": "FAILED", "error": error}
    assert report.handle(event, deps) == {}


def last_message(deps: Deps) -> dict[str, Any]:
    notifier = deps.notifier
    assert isinstance(notifier, FakeNotifier)
    return list(notifier.messages.values())[-1]


@pytest.mark.parametrize("step", ["Train", "Build"])
def test_a_failed_build_records_and_posts_its_last_log_lines_and_where_the_log_is(
    deps: Deps, step: str
) -> None:
    report_failure(deps, step, failed_build_error())

    run = deps.runs.get(EXECUTION)
    assert run is not None
    failed = run.steps[-1]
    assert (failed.step, failed.status) == (step, "FAILED")
    assert failed.detail == f"States.TaskFailed: build mlops-train:{STREAM} FAILED in BUILD: exit status 1"
    assert failed.log is not None
    assert failed.log.lines[-1] == ERROR_LINE
    assert failed.log.location == LOCAL_FILE
    assert run.posted == len(run.steps)  # and it is in the thread

    message = last_message(deps)
    blocks = json.dumps(message["blocks"])
    code = [b for b in message["blocks"] if "```" in json.dumps(b)]
    assert len(code) == 1 and ERROR_LINE in code[0]["text"]["text"]
    assert f"Full log: `{LOCAL_FILE}`" in blocks
    assert ERROR_LINE in message["text"]


def test_on_aws_the_location_is_the_cloudwatch_console_link(deps: Deps) -> None:
    link = f"https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:group={GROUP};stream={STREAM}"
    report_failure(deps, "Build", failed_build_error(link))
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.steps[-1].log is not None
    assert run.steps[-1].log.location == link
    assert f"<{link}|CloudWatch Logs>" in json.dumps(last_message(deps)["blocks"])


def test_an_unreadable_log_still_reports_the_failure_and_says_so(deps: Deps, logs: FakeBuildLogs) -> None:
    logs.failure = LogUnavailableError(f"cannot read log {GROUP} {STREAM}: AccessDeniedException")
    report_failure(deps, "Build", failed_build_error())

    run = deps.runs.get(EXECUTION)
    assert run is not None
    failed = run.steps[-1]
    assert (failed.step, failed.status) == ("Build", "FAILED")
    assert failed.log is not None and failed.log.lines == ()
    assert "the log could not be read" in failed.log.error and "AccessDeniedException" in failed.log.error
    assert failed.log.location == LOCAL_FILE
    text = json.dumps(last_message(deps)["blocks"])
    assert "the log could not be read" in text and LOCAL_FILE in text and "```" not in text


def test_other_failures_read_no_log(deps: Deps, logs: FakeBuildLogs) -> None:
    report_failure(
        deps, "DeployStage", {"Error": "DeploymentError", "Cause": json.dumps({"errorMessage": "boom"})}
    )
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.steps[-1].log is None
    assert logs.reads == []
