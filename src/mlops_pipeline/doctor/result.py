"""What one preflight check found: a status, one line of detail and, when it did not pass, the fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a password
    WARN = "WARN"  # apply may work, but look at it
    FAIL = "FAIL"  # apply would fail (or the pipeline would not work after it)
    SKIP = "SKIP"  # not applicable with these inputs


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def warned(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


def any_failed(results: Iterable[CheckResult]) -> bool:
    return any(r.failed for r in results)


def summary(results: Iterable[CheckResult]) -> str:
    """``8 passed, 1 warning, 1 failed`` (zero counts left out, except passed)."""
    counts = {status: 0 for status in Status}
    for result in results:
        counts[result.status] += 1
    parts = [f"{counts[Status.PASS]} passed"]
    if counts[Status.WARN]:
        parts.append(f"{counts[Status.WARN]} warning{'s' if counts[Status.WARN] != 1 else ''}")
    if counts[Status.FAIL]:
        parts.append(f"{counts[Status.FAIL]} failed")
    if counts[Status.SKIP]:
        parts.append(f"{counts[Status.SKIP]} skipped")
    return ", ".join(parts)
