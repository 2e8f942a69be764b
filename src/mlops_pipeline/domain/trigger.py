"""The execution input: the trusted trigger's facts about a push.

EventBridge builds the input from CodeCommit's event (``terraform/modules/pipeline/events.tf``,
and the same rule in the local stack): ``commit``, ``repository``, ``branch``, ``author`` (the
event's ``detail.callerUserArn``: the principal that pushed) and ``pushed_at`` (the event's
``time``). Only the EventBridge rule's role may start executions, so these are the facts the
pipeline trusts about who pushed and when. What the commit itself says (its git author and
committer dates, ``mlops.toml``) is written by the pusher and is never trusted for either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def trigger_author(trigger: Mapping[str, Any] | None) -> str:
    """The principal that pushed (``author``), or "" when the input names none."""
    value = (trigger or {}).get("author")
    return value.strip() if isinstance(value, str) else ""


def pushed_at(trigger: Mapping[str, Any] | None) -> datetime | None:
    """The trigger event's time (``pushed_at``, ISO 8601, e.g. ``2026-11-26T12:00:00Z``) as aware
    UTC; None when absent or malformed (then commit order is unknown)."""
    value = (trigger or {}).get("pushed_at")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def push_time(trigger: Mapping[str, Any] | None) -> int:
    """``pushed_at`` in seconds since the epoch (0 when unknown): the stale-commit check's order."""
    at = pushed_at(trigger)
    return int(at.timestamp()) if at else 0
