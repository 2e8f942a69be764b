"""What a failed CodeBuild step says about itself: a summary, its log's last lines and location.

A ``codebuild:startBuild.sync`` task whose build fails is caught as ``{"Error":
"States.TaskFailed", "Cause": "<the build as JSON>"}``; the build's ``Logs`` name its CloudWatch
group and stream and a ``DeepLink`` to the whole log (the console on AWS, the log file in local
mode). Everything here keys on that shape, never on the step's name, so every CodeBuild step
(training, build) reports its failure the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from mlops_pipeline.domain.models import StepLog
from mlops_pipeline.ports import BuildLogReader

LOG = logging.getLogger(__name__)

TAIL_LINES = 20
# Read more events than are shown: CodeBuild's own closing lines are dropped from the end first.
READ_EVENTS = 100
LINE_MAX = 300  # characters per line; one runaway line must not crowd out the rest
_CONTAINER = "[Container]"


@dataclass(frozen=True)
class BuildLogRef:
    """Where a build's log is: CloudWatch group and stream ("" when disabled) and its location."""

    group: str
    stream: str
    location: str


def _get(record: Mapping[str, Any], key: str) -> Any:
    # Step Functions gives PascalCase keys (``Logs``), the CodeBuild API camelCase (``logs``).
    return record.get(key[:1].upper() + key[1:], record.get(key))


def failed_build(error: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The build record in a Catch's ``Cause``; None when the error is not a failed build."""
    cause = (error or {}).get("Cause")
    if not isinstance(cause, str) or not cause.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    build = parsed.get("Build", parsed)
    if isinstance(build, dict) and isinstance(_get(build, "logs"), dict):
        return build
    return None


def build_summary(build: Mapping[str, Any]) -> str:
    """``build <id> FAILED in BUILD: <CodeBuild's message>`` from a build record."""
    status = str(_get(build, "buildStatus") or "FAILED")
    text = f"build {_get(build, 'id') or ''} {status}".replace("  ", " ")
    phases = _get(build, "phases") or []
    failed = [p for p in phases if isinstance(p, dict) and _get(p, "phaseStatus") not in (None, "SUCCEEDED")]
    if failed:
        phase = failed[-1]
        text += f" in {_get(phase, 'phaseType')}"
        contexts = [c for c in _get(phase, "contexts") or [] if isinstance(c, dict) and _get(c, "message")]
        if contexts:
            text += f": {_get(contexts[-1], 'message')}"
    return text


def log_ref(build: Mapping[str, Any]) -> BuildLogRef:
    """Where the log of ``build`` (a build record) is."""
    logs = _get(build, "logs") or {}
    group, stream = str(_get(logs, "groupName") or ""), str(_get(logs, "streamName") or "")
    link = str(_get(logs, "deepLink") or "")
    if link.startswith("file://"):
        location = unquote(urlsplit(link).path)  # local mode: the log file itself
    elif link:
        location = link
    elif group and stream:
        location = f"CloudWatch Logs group {group}, stream {stream}"
    else:
        location = ""
    return BuildLogRef(group, stream, location)


def last_lines(events: Sequence[str], count: int = TAIL_LINES) -> tuple[str, ...]:
    """The last ``count`` lines that end with the build's own output, each clipped.

    After a failing command CodeBuild logs its own lines (``[Container] Phase complete ...``,
    the phases that still run); those are dropped from the end so the error itself shows.
    """
    lines = [line.rstrip() for event in events for line in str(event).splitlines()]
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].startswith(_CONTAINER)):
        end -= 1
    end = end or len(lines)  # nothing but CodeBuild's own lines: show those
    return tuple(_clip(line) for line in lines[max(0, end - count) : end])


def read_build_log(
    error: Mapping[str, Any] | None, reader: Callable[[], BuildLogReader], count: int = TAIL_LINES
) -> StepLog | None:
    """The failed build's last log lines and location; None when ``error`` is no failed build.

    ``reader`` is called only for a failed build (no log client for other reports). Best effort:
    a log that cannot be read gives a StepLog with ``error`` set, never an exception.
    """
    build = failed_build(error)
    if build is None:
        return None
    ref = log_ref(build)
    if not ref.group or not ref.stream:
        return StepLog(ref.location, error="the build wrote no CloudWatch log")
    try:
        events = reader().tail(ref.group, ref.stream, READ_EVENTS)
    except Exception as exc:
        LOG.warning("could not read the build log %s %s: %s", ref.group, ref.stream, exc)
        return StepLog(ref.location, error=_clip(f"the log could not be read ({type(exc).__name__}: {exc})"))
    return StepLog(ref.location, last_lines(events, count))


def _clip(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"
