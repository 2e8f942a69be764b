"""A local build's log goes where AWS CodeBuild puts it (CloudWatch Logs) and to a local file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from mlops_pipeline.adapters.aws.build_logs import CloudWatchBuildLogs
from mlops_pipeline.domain.build_logs import last_lines, log_ref
from mlops_pipeline.domain.errors import LogUnavailableError
from mlops_pipeline.local.emulator import codebuild
from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

FAILING = """\
version: 0.2
phases:
  build:
    commands:
      - echo "training the model"
      - python -c "import sklearn_but_misspelt"
  post_build:
    commands:
      - echo "post build runs after a failed build"
"""


def _finished(emulator: Emulator, build_id: str, timeout: float = 30.0) -> dict[str, Any]:
    client = emulator.client("codebuild")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = client.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildStatus"] != "IN_PROGRESS":
            return dict(build)
        time.sleep(0.1)
    raise AssertionError(f"build {build_id} still running")


def _failing_build(emulator: Emulator, source_repo: Any, make_project: Any, name: str) -> dict[str, Any]:
    origin, commit = source_repo({"buildspec.yml": FAILING})
    codebuild.register_repository(f"models-{name}", origin)
    make_project(name, f"https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models-{name}")
    started = emulator.client("codebuild").start_build(projectName=name, sourceVersion=commit)
    return _finished(emulator, started["build"]["id"])


def test_a_failing_builds_log_is_in_cloudwatch_logs_and_in_a_local_file(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    build = _failing_build(emulator, source_repo, make_project, "logs-fail")
    assert build["buildStatus"] == "FAILED"
    build_uuid = build["id"].split(":", 1)[1]
    logs = build["logs"]
    assert logs["groupName"] == "/aws/codebuild/logs-fail"
    assert logs["streamName"] == build_uuid
    assert logs["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/aws/codebuild/logs-fail",
        "streamName": build_uuid,
    }

    events = emulator.client("logs").get_log_events(
        logGroupName=logs["groupName"], logStreamName=logs["streamName"], startFromHead=True
    )["events"]
    messages = [e["message"] for e in events]
    assert any("ModuleNotFoundError: No module named 'sklearn_but_misspelt'" in m for m in messages)
    assert "post build runs after a failed build" in messages
    assert messages[-1] == "[Container] Build finished with status FAILED"

    # The deep link names the local file, which holds the same log.
    path = Path(unquote(urlsplit(logs["deepLink"]).path))
    assert path == codebuild.log_path(build["id"])
    assert path.read_text().splitlines() == messages
    assert log_ref(build).location == str(path)


def test_the_adapter_reads_the_last_lines_of_a_builds_log_from_cloudwatch(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    build = _failing_build(emulator, source_repo, make_project, "logs-tail")
    reader = CloudWatchBuildLogs(client=emulator.client("logs"))
    group, stream = build["logs"]["groupName"], build["logs"]["streamName"]

    assert reader.tail(group, stream, 1) == ["[Container] Build finished with status FAILED"]
    shown = last_lines(reader.tail(group, stream, 100), 3)
    assert len(shown) == 3
    assert shown[-1] == "post build runs after a failed build"
    assert any("ModuleNotFoundError" in line for line in last_lines(reader.tail(group, stream, 100), 20))

    with pytest.raises(LogUnavailableError, match="ResourceNotFoundException"):
        reader.tail(group, "no-such-stream", 5)
    with pytest.raises(LogUnavailableError):
        reader.tail("/aws/codebuild/no-such-project", stream, 5)


def test_a_projects_logs_config_names_the_group_and_stream_prefix(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    origin, commit = source_repo({"buildspec.yml": FAILING})
    codebuild.register_repository("models-logs-config", origin)
    client = emulator.client("codebuild")
    client.create_project(
        name="logs-config",
        source={
            "type": "CODECOMMIT",
            "location": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models-logs-config",
        },
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole="arn:aws:iam::111111111111:role/codebuild-local",
        logsConfig={
            "cloudWatchLogs": {"status": "ENABLED", "groupName": "/mlops/train", "streamName": "runs"}
        },
    )
    started = client.start_build(projectName="logs-config", sourceVersion=commit)
    build = _finished(emulator, started["build"]["id"])
    stream = f"runs/{build['id'].split(':', 1)[1]}"
    assert (build["logs"]["groupName"], build["logs"]["streamName"]) == ("/mlops/train", stream)
    events = emulator.client("logs").get_log_events(logGroupName="/mlops/train", logStreamName=stream)
    assert any("ModuleNotFoundError" in e["message"] for e in events["events"])
