"""BuildLogReader contract: the fake and CloudWatchBuildLogs (moto) answer alike."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from mlops_pipeline.adapters.aws.build_logs import CloudWatchBuildLogs
from mlops_pipeline.domain.errors import LogUnavailableError
from mlops_pipeline.ports import BuildLogReader
from tests.fake_build_logs import FakeBuildLogs

from .backends import REGION

pytestmark = pytest.mark.functional

GROUP, STREAM = "/aws/codebuild/mlops-build", "0b4c2a9e-1111-2222-3333-444455556666"
LINES = [f"line {n}" for n in range(1, 31)]


@pytest.fixture(params=["fake", "cloudwatch"])
def reader(request: pytest.FixtureRequest) -> BuildLogReader:
    if request.param == "fake":
        fake = FakeBuildLogs()
        fake.put(GROUP, STREAM, *LINES)
        fake.put(GROUP, "empty")
        return fake
    request.getfixturevalue("aws")
    logs: Any = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="empty")
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": line} for i, line in enumerate(LINES)]
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=events)
    return CloudWatchBuildLogs(client=logs)


def test_tail_gives_the_last_lines_oldest_first(reader: BuildLogReader) -> None:
    assert list(reader.tail(GROUP, STREAM, 3)) == ["line 28", "line 29", "line 30"]
    assert list(reader.tail(GROUP, STREAM, 100)) == LINES
    assert list(reader.tail(GROUP, "empty", 5)) == []


def test_a_missing_group_or_stream_is_unavailable(reader: BuildLogReader) -> None:
    with pytest.raises(LogUnavailableError):
        reader.tail(GROUP, "no-such-stream", 5)
    with pytest.raises(LogUnavailableError):
        reader.tail("/aws/codebuild/other", STREAM, 5)


def test_a_limit_below_one_is_refused(reader: BuildLogReader) -> None:
    with pytest.raises(ValueError, match="limit"):
        reader.tail(GROUP, STREAM, 0)
