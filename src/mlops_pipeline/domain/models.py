"""Value objects shared by the domain, the ports and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version as the pipeline sees it."""

    name: str
    version: str
    run_id: str | None = None
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployResult:
    """Outcome of publishing an image to a target function and moving its alias."""

    function_name: str
    alias: str
    previous_version: str | None
    new_version: str
    code_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "alias": self.alias,
            "previous_version": self.previous_version,
            "new_version": self.new_version,
            "code_sha256": self.code_sha256,
        }


@dataclass(frozen=True)
class InvokeResult:
    """What a synchronous invoke of the target function returned."""

    status_code: int
    payload: Any
    function_error: str | None
    latency_ms: float
    executed_version: str | None = None


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    SUPERSEDED = "SUPERSEDED"

    @property
    def is_final(self) -> bool:
        return self is not ApprovalStatus.PENDING


@dataclass(frozen=True)
class Approval:
    """An approval request; the task token never leaves the server side."""

    id: str
    task_token: str = field(repr=False)  # a credential of sorts: never printed or logged
    execution: str
    model: str
    version: str
    commit: str
    author: str
    requested_at: datetime
    expires_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    # Context rendered on the card (metrics, smoke result); never used for decisions.
    details: dict[str, Any] = field(default_factory=dict)

    def with_status(self, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        return replace(self, status=status, decided_by=by, decided_at=at)


@dataclass(frozen=True)
class MessageRef:
    """Where a chat message lives (Slack channel id and message timestamp)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class StepStatus:
    step: str
    status: str  # STARTED | SUCCEEDED | FAILED | SKIPPED
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class RunRecord:
    """Per-execution record: Slack thread and the status of each step.

    ``steps`` is also the thread's outbox: the first ``posted`` steps are in the thread,
    the rest wait for the chat service (``pending``). No ``slack_thread_ts`` yet: the
    thread's root message is not posted either.
    """

    execution: str
    commit: str = ""
    repository: str = ""
    branch: str = ""
    author: str = ""
    model: str | None = None
    version: str | None = None
    started_at: datetime | None = None
    status: str = "RUNNING"
    slack_channel: str | None = None
    slack_thread_ts: str | None = None
    steps: tuple[StepStatus, ...] = ()
    posted: int = 0

    @property
    def pending(self) -> tuple[StepStatus, ...]:
        """The recorded steps not posted into the thread yet, oldest first."""
        return self.steps[self.posted :]


@dataclass(frozen=True)
class Lock:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class DeployedState:
    """What an environment currently runs, used to refuse stale commits."""

    environment: str
    commit: str
    commit_time: int  # seconds since the epoch of the commit (committer date)
    model: str
    version: str
    execution: str
    deployed_at: datetime
