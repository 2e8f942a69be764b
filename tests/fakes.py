"""In-memory fakes of the ports, for unit tests (prefer fakes over mocks)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_pipeline.domain.errors import (
    AlreadyDecidedError,
    ApprovalNotFoundError,
    DeploymentError,
    DeploymentLockedError,
    ModelNotFoundError,
)
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


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeRegistry:
    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], ModelVersionInfo] = {}
        self.aliases: dict[tuple[str, str], str] = {}

    def add(self, name: str, version: str, metrics: Mapping[str, float], **tags: str) -> ModelVersionInfo:
        info = ModelVersionInfo(
            name=name, version=version, run_id=f"run{version}", tags=dict(tags), metrics=dict(metrics)
        )
        self.versions[(name, version)] = info
        return info

    def _with_aliases(self, info: ModelVersionInfo) -> ModelVersionInfo:
        aliases = tuple(a for (n, a), v in self.aliases.items() if n == info.name and v == info.version)
        return replace(info, aliases=aliases)

    def find_version_by_commit(self, model_name: str, commit: str) -> ModelVersionInfo | None:
        hits = [
            v for (n, _), v in self.versions.items() if n == model_name and v.tags.get("git_commit") == commit
        ]
        return self._with_aliases(max(hits, key=lambda v: int(v.version))) if hits else None

    def get_version(self, model_name: str, version: str) -> ModelVersionInfo:
        try:
            return self._with_aliases(self.versions[(model_name, version)])
        except KeyError:
            raise ModelNotFoundError(f"{model_name} v{version} not found") from None

    def get_by_alias(self, model_name: str, alias: str) -> ModelVersionInfo | None:
        version = self.aliases.get((model_name, alias))
        return self.get_version(model_name, version) if version else None

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        return self.get_by_alias(model_name, "production")

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.get_version(model_name, version)
        self.aliases[(model_name, alias)] = version

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        info = self.get_version(model_name, version)
        self.versions[(model_name, version)] = replace(info, tags={**info.tags, **tags}, aliases=())


class FakeDeployer:
    """One function with published versions and an alias; can be told to fail."""

    def __init__(self, function_name: str = "fn", current: str | None = "1") -> None:
        self.function_name = function_name
        self.versions: dict[str, str] = {"1": "initial-image"} if current else {}
        self.alias: str | None = current
        self.fail_deploy: str | None = None
        self.invoke_result: InvokeResult | None = None
        self.invocations: list[Mapping[str, Any]] = []

    def current_version(self) -> str | None:
        return self.alias

    def deploy(self, image_uri: str) -> DeployResult:
        if self.fail_deploy:
            raise DeploymentError(self.fail_deploy)
        previous = self.alias
        new = str(max((int(v) for v in self.versions), default=0) + 1)
        self.versions[new] = image_uri
        self.alias = new
        return DeployResult(self.function_name, "live", previous, new)

    def rollback(self, to_version: str) -> None:
        if to_version not in self.versions:
            raise DeploymentError(f"no version {to_version}")
        self.alias = to_version

    def invoke_alias(self, payload: Mapping[str, Any]) -> InvokeResult:
        self.invocations.append(payload)
        if self.invoke_result is not None:
            return self.invoke_result
        return InvokeResult(200, {"predictions": [1.0]}, None, 12.0, self.alias)


class FakeApprovalStore:
    def __init__(self) -> None:
        self.items: dict[str, Approval] = {}
        self._lock = threading.Lock()

    def put(self, approval: Approval) -> None:
        with self._lock:
            self.items[approval.id] = approval

    def get(self, approval_id: str) -> Approval | None:
        return self.items.get(approval_id)

    def decide(self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        with self._lock:  # the conditional write
            current = self.items.get(approval_id)
            if current is None:
                raise ApprovalNotFoundError(approval_id)
            if current.status is not ApprovalStatus.PENDING:
                raise AlreadyDecidedError(f"{approval_id} is {current.status}", current=current)
            decided = current.with_status(status, by, at)
            self.items[approval_id] = decided
            return decided

    def list_pending(self, model_name: str) -> Sequence[Approval]:
        return [
            a for a in self.items.values() if a.model == model_name and a.status is ApprovalStatus.PENDING
        ]

    def set_message(self, approval_id: str, ref: MessageRef) -> None:
        with self._lock:
            self.items[approval_id] = replace(
                self.items[approval_id], slack_channel=ref.channel, slack_ts=ref.ts
            )


class FakeRunStore:
    def __init__(self) -> None:
        self.items: dict[str, RunRecord] = {}

    def get(self, execution: str) -> RunRecord | None:
        return self.items.get(execution)

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        return self.items.setdefault(record.execution, record)

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        run = self.items[execution]
        if run.slack_thread_ts:
            return False
        self.items[execution] = replace(run, slack_channel=ref.channel, slack_thread_ts=ref.ts)
        return True

    def record_step(self, execution: str, step: StepStatus) -> None:
        run = self.items[execution]
        self.items[execution] = replace(run, steps=(*run.steps, step))

    def update(self, execution: str, **fields: Any) -> None:
        self.items[execution] = replace(self.items[execution], **fields)

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]:
        runs = sorted(self.items.values(), key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC))
        return list(reversed(runs))[:limit]


class FakeLockStore:
    def __init__(self) -> None:
        self.locks: dict[str, Lock] = {}

    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        held = self.locks.get(name)
        if held and held.owner != owner and held.expires_at > now:
            raise DeploymentLockedError(f"{name} held by {held.owner} until {held.expires_at}")
        lock = Lock(name, owner, now, now + timedelta(seconds=ttl_seconds))
        self.locks[name] = lock
        return lock

    def release(self, name: str, owner: str) -> bool:
        held = self.locks.get(name)
        if held and held.owner == owner:
            del self.locks[name]
            return True
        return False


class FakeDeployedStateStore:
    def __init__(self) -> None:
        self.items: dict[str, DeployedState] = {}

    def get(self, environment: str) -> DeployedState | None:
        return self.items.get(environment)

    def put(self, state: DeployedState) -> None:
        self.items[state.environment] = state


class FakeNotifier:
    def __init__(self, users_by_email: Mapping[str, str] | None = None) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, str]] = []
        self.users_by_email = dict(users_by_email or {})
        self.groups: dict[str, frozenset[str]] = {}
        self._ts = itertools.count(1)

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[ts] = {
            "channel": channel,
            "text": text,
            "blocks": list(blocks or []),
            "thread_ts": thread_ts,
        }
        return MessageRef(channel, ts)

    def update(self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.messages[ref.ts].update(text=text, blocks=list(blocks or []), edited=True)

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.ephemerals.append({"channel": channel, "user": user, "text": text})

    def lookup_user_by_email(self, email: str) -> str | None:
        return self.users_by_email.get(email)

    def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        return self.groups.get(usergroup_id, frozenset())

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for t, m in self.messages.items() if t == ts or m["thread_ts"] == ts]


class FakeCallbacks:
    def __init__(self) -> None:
        self.successes: list[tuple[str, Mapping[str, Any]]] = []
        self.failures: list[tuple[str, str, str]] = []

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        self.successes.append((task_token, dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self.failures.append((task_token, error, cause))
