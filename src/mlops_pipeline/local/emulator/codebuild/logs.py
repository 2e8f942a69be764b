"""Where a local build's log goes: CloudWatch Logs in moto (as on AWS) and a local file.

AWS CodeBuild writes each build to the log group ``/aws/codebuild/<project>`` (or the project's
``logsConfig.cloudWatchLogs.groupName``), stream ``<build uuid>`` (``<streamName>/<build uuid>``
with a configured stream prefix), and nothing when the project disables CloudWatch logs. The
local runtime does the same in moto's logs backend, so readers of the log (the report function's
GetLogEvents) work unchanged; the file ``<state dir>/logs/codebuild/<build id>.log`` keeps the
whole log on disk as well, and the build record's ``logs.deepLink`` points at it (locally there
is no console to link to).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogTarget:
    """The CloudWatch Logs group and stream of one build (``enabled`` False: file only)."""

    account_id: str
    region: str
    group: str
    stream: str
    enabled: bool = True

    @property
    def group_arn(self) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{self.group}"

    def record(self, log_file: Path) -> dict[str, Any]:
        """The build record's ``logs`` field, shaped like AWS's (deepLink: the local file)."""
        status = "ENABLED" if self.enabled else "DISABLED"
        logs: dict[str, Any] = {
            "deepLink": log_file.as_uri(),
            "cloudWatchLogs": {"status": status},
            "s3Logs": {"status": "DISABLED"},
        }
        if self.enabled:
            logs.update(
                groupName=self.group,
                streamName=self.stream,
                cloudWatchLogsArn=f"{self.group_arn}:log-stream:{self.stream}",
            )
            logs["cloudWatchLogs"].update(groupName=self.group, streamName=self.stream)
        return logs


def log_target(account_id: str, region: str, project: Mapping[str, Any], build_id: str) -> LogTarget:
    """Where AWS would put the CloudWatch log of ``build_id`` of ``project`` (its API record)."""
    config = (project.get("logsConfig") or {}).get("cloudWatchLogs") or {}
    build_uuid = build_id.rsplit(":", 1)[-1]
    prefix = str(config.get("streamName") or "")
    return LogTarget(
        account_id=account_id,
        region=region,
        group=str(config.get("groupName") or f"/aws/codebuild/{project['name']}"),
        stream=f"{prefix}/{build_uuid}" if prefix else build_uuid,
        enabled=str(config.get("status", "ENABLED")).upper() != "DISABLED",
    )


class CloudWatchSink:
    """Appends a build's log lines to its stream in moto's logs backend (best effort)."""

    def __init__(self, target: LogTarget) -> None:
        self.target = target
        self._ready = False
        self._broken = False

    def write(self, line: str) -> None:
        """One log event now; a failure is logged once and the build's file log carries on."""
        if not self.target.enabled or self._broken:
            return
        try:
            backend = self._backend()
            if not self._ready:
                # CodeBuild creates the group when the project's role may (Terraform creates it first).
                backend.ensure_log_group(self.target.group)
                backend.ensure_log_stream(self.target.group, self.target.stream)
                self._ready = True
            # Wall time, not the registry's clock: moto (like AWS) refuses events older than 14 days.
            event = {"timestamp": int(time.time() * 1000), "message": line}
            backend.put_log_events(self.target.group, self.target.stream, [event])
        except Exception:  # the file log is the record of last resort: never break the build
            self._broken = True
            LOG.exception("could not write the build log to CloudWatch Logs %s", self.target.group)

    def _backend(self) -> Any:
        from moto.logs.models import logs_backends

        return logs_backends[self.target.account_id][self.target.region]
