"""A failed CodeBuild step's Cause: its summary, its log's location and last lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_pipeline.domain.build_logs import (
    LINE_MAX,
    build_summary,
    failed_build,
    last_lines,
    log_ref,
    read_build_log,
)
from mlops_pipeline.domain.errors import LogUnavailableError
from tests.fake_build_logs import FakeBuildLogs

GROUP, STREAM = "/aws/codebuild/mlops-train", "7d0c3a52-aaaa-bbbb-cccc-0123456789ab"
DEEP_LINK = (
    f"https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:group={GROUP};stream={STREAM}"
)


def sfn_cause(logs: dict[str, Any] | None = None, **build: Any) -> dict[str, str]:
    """A Catch's error for a failed ``codebuild:startBuild.sync`` task, as Step Functions gives it."""
    record = {
        "Id": f"mlops-train:{STREAM}",
        "BuildStatus": "FAILED",
        "Phases": [
            {"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"},
            {
                "PhaseType": "BUILD",
                "PhaseStatus": "FAILED",
                "Contexts": [
                    {
                        "StatusCode": "COMMAND_EXECUTION_ERROR",
                        "Message": "Error while executing command: python train.py. Reason: exit status 1",
                    }
                ],
            },
            {"PhaseType": "POST_BUILD", "PhaseStatus": "SUCCEEDED"},
        ],
        "Logs": logs
        if logs is not None
        else {"GroupName": GROUP, "StreamName": STREAM, "DeepLink": DEEP_LINK},
        **build,
    }
    return {"Error": "States.TaskFailed", "Cause": json.dumps({"Build": record})}


TRACEBACK = [
    "[Container] 2026/11/26 12:00:01.000 Running command python train.py",
    "Traceback (most recent call last):",
    '  File "train.py", line 1, in <module>',
    "    import sklearn_but_misspelt",
    "ModuleNotFoundError: No module named 'sklearn_but_misspelt'",
    "",
    "[Container] 2026/11/26 12:00:02.000 Command did not exit successfully python train.py exit status 1",
    "[Container] 2026/11/26 12:00:02.000 Phase complete: BUILD State: FAILED",
    "[Container] 2026/11/26 12:00:02.000 Entering phase POST_BUILD",
    "[Container] 2026/11/26 12:00:02.000 Phase complete: POST_BUILD State: SUCCEEDED",
]


def test_a_failed_builds_cause_is_recognised_by_its_shape_not_its_step() -> None:
    build = failed_build(sfn_cause())
    assert build is not None and build["Id"] == f"mlops-train:{STREAM}"
    camel = {"Cause": json.dumps({"id": "b:1", "logs": {"groupName": "g", "streamName": "s"}})}
    assert failed_build(camel) is not None  # the CodeBuild API's own casing
    for error in (
        None,
        {"Error": "States.TaskFailed", "Cause": "plain text"},
        {"Error": "DeploymentError", "Cause": json.dumps({"errorMessage": "boom"})},
        {"Error": "States.TaskFailed", "Cause": json.dumps({"Build": {"Id": "b:1"}})},  # no Logs
        {"Error": "States.TaskFailed", "Cause": "{not json"},
    ):
        assert failed_build(error) is None, error


def test_the_summary_names_the_failed_phase_and_codebuilds_message() -> None:
    build = failed_build(sfn_cause())
    assert build is not None
    assert build_summary(build) == (
        f"build mlops-train:{STREAM} FAILED in BUILD: "
        "Error while executing command: python train.py. Reason: exit status 1"
    )


def test_the_location_is_the_console_link_on_aws_and_the_file_locally() -> None:
    aws = failed_build(sfn_cause())
    assert aws is not None and log_ref(aws).location == DEEP_LINK
    local_logs = {
        "GroupName": GROUP,
        "StreamName": STREAM,
        "DeepLink": "file:///state/logs/codebuild/a%3Ab.log",
    }
    local = failed_build(sfn_cause(local_logs))
    assert local is not None and log_ref(local).location == "/state/logs/codebuild/a:b.log"
    bare = failed_build(sfn_cause({"GroupName": GROUP, "StreamName": STREAM}))
    assert bare is not None and log_ref(bare).location == f"CloudWatch Logs group {GROUP}, stream {STREAM}"


def test_last_lines_end_with_the_builds_own_output_and_are_bounded() -> None:
    shown = last_lines(TRACEBACK, 4)
    assert shown == (
        "Traceback (most recent call last):",
        '  File "train.py", line 1, in <module>',
        "    import sklearn_but_misspelt",
        "ModuleNotFoundError: No module named 'sklearn_but_misspelt'",
    )
    long = last_lines(["x" * 5000, "multi\nline"], 20)
    assert long == ("x" * (LINE_MAX - 1) + "…", "multi", "line")
    only_container = ["[Container] a", "[Container] b"]
    assert last_lines(only_container, 20) == ("[Container] a", "[Container] b")
    assert len(last_lines([f"l{n}" for n in range(100)], 20)) == 20


def test_read_build_log_gives_the_last_lines_and_the_location() -> None:
    logs = FakeBuildLogs()
    logs.put(GROUP, STREAM, *TRACEBACK)
    log = read_build_log(sfn_cause(), lambda: logs)
    assert log is not None
    assert log.location == DEEP_LINK
    assert log.lines[-1] == "ModuleNotFoundError: No module named 'sklearn_but_misspelt'"
    assert log.error == ""
    assert logs.reads and logs.reads[0][:2] == (GROUP, STREAM)


@pytest.mark.parametrize(
    "failure",
    [LogUnavailableError("cannot read log: AccessDeniedException"), RuntimeError("connection reset")],
)
def test_an_unreadable_log_is_said_never_raised(failure: Exception) -> None:
    logs = FakeBuildLogs()
    logs.failure = failure
    log = read_build_log(sfn_cause(), lambda: logs)
    assert log is not None
    assert log.lines == ()
    assert log.location == DEEP_LINK
    assert log.error.startswith("the log could not be read") and type(failure).__name__ in log.error


def test_a_reader_that_cannot_be_made_is_an_unreadable_log() -> None:
    def no_client() -> FakeBuildLogs:
        raise RuntimeError("no region configured")

    log = read_build_log(sfn_cause(), no_client)
    assert log is not None and "no region configured" in log.error


def test_no_reader_is_made_for_an_error_that_is_no_failed_build() -> None:
    def never() -> FakeBuildLogs:
        raise AssertionError("a log client was made for a non-build error")

    assert read_build_log({"Error": "DeploymentError", "Cause": "boom"}, never) is None


def test_a_build_without_a_cloudwatch_log_says_so() -> None:
    log = read_build_log(sfn_cause({"DeepLink": "file:///state/x.log"}), FakeBuildLogs)
    assert log is not None
    assert (log.location, log.lines, log.error) == ("/state/x.log", (), "the build wrote no CloudWatch log")
