"""BuildLogReader on CloudWatch Logs: the last lines of a CodeBuild log stream (GetLogEvents)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mlops_pipeline.domain.errors import LogUnavailableError

# A report must not wait long on a log: two quick attempts, short timeouts.
_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
_MAX_LIMIT = 10000  # GetLogEvents' own limit


class CloudWatchBuildLogs:
    """``tail`` = one GetLogEvents from the end of the stream (``startFromHead=False``)."""

    def __init__(self, client: Any | None = None) -> None:
        self._logs = client if client is not None else boto3.client("logs", config=_CONFIG)

    def tail(self, group: str, stream: str, limit: int) -> Sequence[str]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        try:
            response = self._logs.get_log_events(
                logGroupName=group,
                logStreamName=stream,
                limit=min(limit, _MAX_LIMIT),
                startFromHead=False,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise LogUnavailableError(f"cannot read log {group} {stream}: {code}") from None
        except BotoCoreError as exc:
            raise LogUnavailableError(f"cannot read log {group} {stream}: {type(exc).__name__}") from None
        events = sorted(response.get("events", []), key=lambda e: int(e.get("timestamp", 0)))
        return [str(e.get("message", "")).rstrip("\n") for e in events][-limit:]
