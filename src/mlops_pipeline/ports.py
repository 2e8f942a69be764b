"""Ports: every outside dependency of the domain sits behind one of these Protocols.

Adapters in ``adapters/`` implement them with boto3, the MLflow client and slack_sdk;
unit tests implement them with in-memory fakes (``tests/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    DeployedState,
    DeployResult,
    InvokeResult,
    Lock,
    MessageRef,
    ModelVersionInfo,
    RunRecord,
    StepStatus,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ModelRegistry(Protocol):
    """MLflow model registry, aliases only (never stages)."""

    def find_version_by_commit(self, model_name: str, commit: str) -> ModelVersionInfo | None: ...

    def get_version(self, model_name: str, version: str) -> ModelVersionInfo:
        """The version with its tags, aliases and its run's metrics; ModelNotFoundError if absent."""
        ...

    def get_by_alias(self, model_name: str, alias: str) -> ModelVersionInfo | None: ...

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        """The version behind alias ``production`` or None for a first model."""
        ...

    def set_alias(self, model_name: str, alias: str, version: str) -> None: ...

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None: ...


class FunctionDeployer(Protocol):
    """One target function (stage or prod) reached through its account's deploy role."""

    def current_version(self) -> str | None:
        """The version behind the alias, or None if the alias does not exist yet."""
        ...

    def deploy(self, image_uri: str) -> DeployResult:
        """UpdateFunctionCode, wait, PublishVersion, move the alias; alias untouched on failure."""
        ...

    def rollback(self, to_version: str) -> None:
        """Move the alias back to a published version."""
        ...

    def invoke_alias(self, payload: Mapping[str, Any]) -> InvokeResult: ...


class ApprovalStore(Protocol):
    def put(self, approval: Approval) -> None: ...

    def get(self, approval_id: str) -> Approval | None: ...

    def decide(self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        """Conditional write PENDING -> status; AlreadyDecidedError(current=...) otherwise."""
        ...

    def list_pending(self, model_name: str) -> Sequence[Approval]: ...

    def set_message(self, approval_id: str, ref: MessageRef) -> None: ...


class RunStore(Protocol):
    def get(self, execution: str) -> RunRecord | None: ...

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        """Create the record unless it exists; returns the stored record."""
        ...

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        """Store the Slack thread once; False if another writer set it first."""
        ...

    def record_step(self, execution: str, step: StepStatus) -> None: ...

    def update(self, execution: str, **fields: Any) -> None: ...

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]: ...


class LockStore(Protocol):
    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        """Take the lock (re-entrant for the same owner); DeploymentLockedError if held."""
        ...

    def release(self, name: str, owner: str) -> bool: ...


class DeployedStateStore(Protocol):
    def get(self, environment: str) -> DeployedState | None: ...

    def put(self, state: DeployedState) -> None: ...


class ChatNotifier(Protocol):
    """Slack Web API, as far as the pipeline uses it."""

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef: ...

    def update(
        self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None: ...

    def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...

    def lookup_user_by_email(self, email: str) -> str | None: ...

    def usergroup_members(self, usergroup_id: str) -> frozenset[str]: ...


class TaskCallbacks(Protocol):
    """Step Functions task-token callbacks."""

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None: ...

    def send_failure(self, task_token: str, error: str, cause: str) -> None: ...
