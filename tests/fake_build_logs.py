"""In-memory BuildLogReader (kept out of ``tests/fakes.py``, which is near the 500-line cap)."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_pipeline.domain.errors import LogUnavailableError


class FakeBuildLogs:
    """BuildLogReader: lines by (group, stream); ``failure`` set makes every read raise it."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], list[str]] = {}
        self.failure: Exception | None = None
        self.reads: list[tuple[str, str, int]] = []

    def put(self, group: str, stream: str, *lines: str) -> None:
        self.streams.setdefault((group, stream), []).extend(lines)

    def tail(self, group: str, stream: str, limit: int) -> Sequence[str]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.reads.append((group, stream, limit))
        if self.failure is not None:
            raise self.failure
        if (group, stream) not in self.streams:
            raise LogUnavailableError(f"cannot read log {group} {stream}: ResourceNotFoundException")
        return list(self.streams[(group, stream)][-limit:])
