"""In-memory fakes of the ports, for unit tests (prefer fakes over mocks).

Each fake keeps its port's contract (``mlops_pipeline.ports``) exactly: the same return
values and the same domain errors as the real adapter. ``tests/functional/ports/`` runs
one scenario suite over each fake and its adapter, and mypy checks every fake against its
Protocol (the assignments at the end of this module).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops_pipeline.adapters.mlflow_registry import (
    validate_alias,
    validate_commit,
    validate_model_name,
    validate_tags,
    validate_version,
)
from mlops_pipeline.domain.errors import (
    AlreadyDecidedError,
    ApprovalNotFoundError,
    ChatError,
    DecisionConflictError,
    DeploymentLockedError,
    ModelNotFoundError,
    RunNotFoundError,
    TaskGoneError,
)
from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    Decision,
    DeployedState,
    DeployIntent,
    Lock,
    MessageRef,
    ModelVersionInfo,
    RunRecord,
    StepStatus,
)
from mlops_pipeline.domain.prod_rollback import RollbackRequest, RollbackStatus
from mlops_pipeline.ports import RUN_UPDATE_FIELDS
from tests.fake_deployer import FakeDeployer as FakeDeployer  # re-exported: tests import it from here

if TYPE_CHECKING:
    from mlops_pipeline.ports import (
        ApprovalStore,
        ChatNotifier,
        Clock,
        DeployedStateStore,
        FunctionDeployer,
        LockStore,
        ModelRegistry,
        RollbackStarter,
        RollbackStore,
        RunStore,
        TaskCallbacks,
    )

_RUN_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunRecord)}


def _aware(*values: datetime | None) -> None:
    """The stores refuse naive datetimes (the DynamoDB codec cannot know their zone)."""
    for value in values:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"datetime {value!r} has no timezone; pass an aware UTC datetime")


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeRegistry:
    """ModelRegistry; ``add`` registers a version (the build's job, not the port's)."""

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
        aliases = tuple(
            sorted(a for (n, a), v in self.aliases.items() if n == info.name and v == info.version)
        )
        return replace(info, aliases=aliases)

    def find_version_by_commit(self, model_name: str, commit: str) -> ModelVersionInfo | None:
        name, sha = validate_model_name(model_name), validate_commit(commit)
        hits = [v for (n, _), v in self.versions.items() if n == name and v.tags.get("git_commit") == sha]
        return self._with_aliases(max(hits, key=lambda v: int(v.version))) if hits else None

    def get_version(self, model_name: str, version: str) -> ModelVersionInfo:
        key = (validate_model_name(model_name), validate_version(version))
        try:
            return self._with_aliases(self.versions[key])
        except KeyError:
            raise ModelNotFoundError(f"model {model_name!r} has no version {version}") from None

    def get_by_alias(self, model_name: str, alias: str) -> ModelVersionInfo | None:
        version = self.aliases.get((validate_model_name(model_name), validate_alias(alias)))
        return self.get_version(model_name, version) if version else None

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        return self.get_by_alias(model_name, "production")

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        validate_alias(alias)
        self.get_version(model_name, version)
        self.aliases[(model_name, alias)] = version

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        validate_model_name(model_name)
        validate_version(version)
        checked = validate_tags(tags)
        if not checked:
            return
        info = self.get_version(model_name, version)
        self.versions[(model_name, version)] = replace(info, tags={**info.tags, **checked}, aliases=())


class FakeApprovalStore:
    """ApprovalStore; the lock plays DynamoDB's conditional write."""

    def __init__(self) -> None:
        self.items: dict[str, Approval] = {}
        self._lock = threading.Lock()

    def put(self, approval: Approval) -> None:
        _aware(approval.requested_at, approval.expires_at, approval.decided_at)
        with self._lock:
            current = self.items.get(approval.id)
            if current is not None and current.status is not ApprovalStatus.PENDING:
                raise AlreadyDecidedError(
                    f"approval {approval.id} is already {current.status.value}; not overwritten",
                    current=current,
                )
            self.items[approval.id] = approval

    def get(self, approval_id: str) -> Approval | None:
        return self.items.get(approval_id)

    def _pending(self, approval_id: str) -> Approval:
        current = self.items.get(approval_id)
        if current is None:
            raise ApprovalNotFoundError(f"no approval with id {approval_id!r}")
        if current.status is not ApprovalStatus.PENDING:
            by_text = f" by {current.decided_by}" if current.decided_by else ""
            raise AlreadyDecidedError(
                f"approval {approval_id} is already {current.status.value}{by_text}", current=current
            )
        return current

    def decide(
        self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime, reason: str = ""
    ) -> Approval:
        status = ApprovalStatus(status)
        if not status.is_final:
            raise ValueError("decide needs a final status (APPROVED, REJECTED, EXPIRED or SUPERSEDED)")
        _aware(at)
        with self._lock:
            decided = replace(self._pending(approval_id).with_status(status, by, at), reason=reason)
            self.items[approval_id] = decided
            return decided

    def add_decision(
        self, approval_id: str, decision: Decision, seen: int, status: ApprovalStatus | None = None
    ) -> Approval:
        if status is not None and not ApprovalStatus(status).is_final:
            raise ValueError("add_decision decides only with a final status")
        if seen < 0:
            raise ValueError("seen must not be negative")
        _aware(decision.at)
        with self._lock:
            current = self._pending(approval_id)
            if len(current.decisions) != seen:
                raise DecisionConflictError(f"approval {approval_id} has another decision", current=current)
            updated = replace(current, decisions=(*current.decisions, decision))
            if status is not None:
                updated = updated.with_status(ApprovalStatus(status), decision.user, decision.at)
            self.items[approval_id] = updated
            return updated

    def revert(
        self,
        approval_id: str,
        expected: ApprovalStatus,
        seen: int,
        status: ApprovalStatus,
        at: datetime,
        reason: str,
    ) -> Approval:
        expected, status = ApprovalStatus(expected), ApprovalStatus(status)
        if not expected.is_final or expected is status:
            raise ValueError("revert goes from a final status to PENDING or another final status")
        _aware(at)
        with self._lock:
            current = self.items.get(approval_id)
            if current is None:
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}")
            if current.status is not expected or len(current.decisions) != seen:
                raise AlreadyDecidedError(f"approval {approval_id} changed meanwhile", current=current)
            pending = status is ApprovalStatus.PENDING
            decisions = current.decisions[:-1] if pending else current.decisions
            reverted = replace(current, status=status, decided_by=None, decisions=decisions, reason=reason)
            self.items[approval_id] = replace(reverted, decided_at=None if pending else at)
            return self.items[approval_id]

    def list_pending(self, model_name: str) -> Sequence[Approval]:
        pending = [
            a for a in self.items.values() if a.model == model_name and a.status is ApprovalStatus.PENDING
        ]
        return sorted(pending, key=lambda a: (a.requested_at, a.id))

    def list_for_execution(self, model_name: str, execution: str) -> Sequence[Approval]:
        mine = [a for a in self.items.values() if a.model == model_name and a.execution == execution]
        return sorted(mine, key=lambda a: (a.requested_at, a.id))

    def set_message(self, approval_id: str, ref: MessageRef) -> None:
        with self._lock:
            current = self.items.get(approval_id)
            if current is None:
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}")
            self.items[approval_id] = replace(current, slack_channel=ref.channel, slack_ts=ref.ts)


class FakeRunStore:
    """RunStore."""

    def __init__(self) -> None:
        self.items: dict[str, RunRecord] = {}

    def _existing(self, execution: str) -> RunRecord:
        try:
            return self.items[execution]
        except KeyError:
            raise RunNotFoundError(f"no run record for {execution}") from None

    def get(self, execution: str) -> RunRecord | None:
        return self.items.get(execution)

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        _aware(record.started_at, *(s.at for s in record.steps))
        return self.items.setdefault(record.execution, record)

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        run = self._existing(execution)
        if run.slack_thread_ts:
            return False
        self.items[execution] = replace(run, slack_channel=ref.channel, slack_thread_ts=ref.ts)
        return True

    def record_step(self, execution: str, step: StepStatus) -> None:
        _aware(step.at)
        run = self._existing(execution)
        self.items[execution] = replace(run, steps=(*run.steps, step))

    def mark_posted(self, execution: str, seen: int, posted: int) -> bool:
        if not 0 <= seen < posted:
            raise ValueError(f"need 0 <= seen < posted, got seen={seen}, posted={posted}")
        run = self._existing(execution)
        if run.posted != seen:
            return False
        self.items[execution] = replace(run, posted=posted)
        return True

    def update(self, execution: str, **fields: Any) -> None:
        unknown = set(fields) - RUN_UPDATE_FIELDS
        if unknown:
            raise ValueError(
                f"cannot update run fields {sorted(unknown)}; allowed: {sorted(RUN_UPDATE_FIELDS)}"
            )
        if not fields:
            return
        values: dict[str, Any] = {k: _RUN_DEFAULTS[k] if v is None else str(v) for k, v in fields.items()}
        self.items[execution] = replace(self._existing(execution), **values)

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]:
        if limit <= 0:
            return []
        started = [r for r in self.items.values() if r.started_at is not None]
        return sorted(started, key=lambda r: r.started_at or datetime.min, reverse=True)[:limit]


class FakeLockStore:
    """LockStore."""

    def __init__(self) -> None:
        self.locks: dict[str, Lock] = {}
        self.intents: dict[str, DeployIntent] = {}

    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if not owner:
            raise ValueError("a lock needs an owner")
        _aware(now)
        held = self.locks.get(name)
        if held and held.owner != owner and held.expires_at > now:
            raise DeploymentLockedError(f"lock {name!r} is held by {held.owner} until {held.expires_at}")
        lock = Lock(name, owner, now, now + timedelta(seconds=ttl_seconds))
        self.locks[name] = lock
        return lock

    def release(self, name: str, owner: str) -> bool:
        held = self.locks.get(name)
        if held and held.owner == owner:
            del self.locks[name]
            return True
        return False

    def record_intent(self, name: str, intent: DeployIntent) -> None:
        self.intents[name] = intent

    def intent(self, name: str) -> DeployIntent | None:
        return self.intents.get(name)


class FakeDeployedStateStore:
    """DeployedStateStore."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], DeployedState] = {}

    def get(self, environment: str, model: str) -> DeployedState | None:
        return self.items.get((environment, model))

    def put(self, state: DeployedState) -> None:
        _aware(state.deployed_at)
        self.items[(state.environment, state.model)] = state


def _refused(method: str, code: str) -> ChatError:
    return ChatError(f"chat {method} failed: {code}", code)


class FakeNotifier:
    """ChatNotifier; messages by ts. ``channels``/``users`` (None: any) are the workspace's."""

    def __init__(
        self,
        users_by_email: Mapping[str, str] | None = None,
        channels: set[str] | None = None,
        users: set[str] | None = None,
    ) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, str]] = []
        self.users_by_email = dict(users_by_email or {})
        self.groups: dict[str, frozenset[str]] = {}
        self.channels = channels
        self.users = users
        self._ts = itertools.count(1)

    def _check_channel(self, method: str, channel: str) -> None:
        if not channel or (self.channels is not None and channel not in self.channels):
            raise _refused(method, "channel_not_found")

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        self._check_channel("chat.postMessage", channel)
        if not text and not blocks:
            raise _refused("chat.postMessage", "no_text")
        parent = self.messages.get(thread_ts) if thread_ts else None
        if parent is not None and parent["thread_ts"]:
            thread_ts = parent["thread_ts"]  # a reply to a reply joins the root's thread
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[ts] = {
            "channel": channel,
            "text": text,
            "blocks": [dict(b) for b in blocks or []],
            "thread_ts": thread_ts,
        }
        return MessageRef(channel, ts)

    def update(self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        message = self.messages.get(ref.ts)
        if message is None or message["channel"] != ref.channel:
            raise _refused("chat.update", "message_not_found")
        if not text and not blocks:
            raise _refused("chat.update", "no_text")
        message.update(text=text, edited=True)
        if blocks is not None:  # like Slack: omitted blocks are kept
            message["blocks"] = [dict(b) for b in blocks]

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self._check_channel("chat.postEphemeral", channel)
        if not user or (self.users is not None and user not in self.users):
            raise _refused("chat.postEphemeral", "user_not_found")
        if not text:
            raise _refused("chat.postEphemeral", "no_text")
        self.ephemerals.append({"channel": channel, "user": user, "text": text})

    def lookup_user_by_email(self, email: str) -> str | None:
        return self.users_by_email.get(email)

    def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        try:
            return self.groups[usergroup_id]
        except KeyError:
            raise _refused("usergroups.users.list", "no_such_subteam") from None

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for t, m in self.messages.items() if t == ts or m["thread_ts"] == ts]


class FakeCallbacks:
    """TaskCallbacks; a token is gone once answered, or when a test puts it in ``gone``."""

    def __init__(self) -> None:
        self.successes: list[tuple[str, Mapping[str, Any]]] = []
        self.failures: list[tuple[str, str, str]] = []
        self.gone: set[str] = set()
        self._lock = threading.Lock()

    def _answer(self, task_token: str) -> None:
        if task_token in self.gone:
            raise TaskGoneError(
                "the waiting task is gone (InvalidToken); the decision was not delivered", "InvalidToken"
            )
        self.gone.add(task_token)

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        with self._lock:
            self._answer(task_token)
            self.successes.append((task_token, dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        with self._lock:
            self._answer(task_token)
            self.failures.append((task_token, error, cause))


class FakeRollbackStore:
    """RollbackStore: status changes conditional like the table's."""

    def __init__(self) -> None:
        self.items: dict[str, RollbackRequest] = {}
        self.proofs: dict[str, datetime] = {}  # digest -> expires_at

    def use_proof(self, digest: str, at: datetime, expires_at: datetime) -> bool:
        _aware(at, expires_at)
        if digest in self.proofs:
            return False
        self.proofs[digest] = expires_at
        return True

    def offer(self, request: RollbackRequest) -> RollbackRequest:
        _aware(request.offered_at)
        return self.items.setdefault(request.id, request)

    def get(self, request_id: str) -> RollbackRequest | None:
        return self.items.get(request_id)

    def _expect(self, request_id: str, status: RollbackStatus) -> RollbackRequest:
        current = self.items.get(request_id)
        if current is None or current.status is not status:
            shown = current.status.value if current else "absent"
            raise AlreadyDecidedError(f"rollback {request_id} is {shown}", current=current)
        return current

    def claim(
        self,
        request_id: str,
        *,
        by: str,
        principal: str,
        via: str,
        reason: str,
        at: datetime,
        channel: str = "",
        to_version: str = "",
    ) -> RollbackRequest:
        _aware(at)
        current = self._expect(request_id, RollbackStatus.OFFERED)
        claimed = replace(
            current,
            status=RollbackStatus.REQUESTED,
            requested_by=by,
            principal=principal,
            via=via,
            reason=reason,
            requested_at=at,
            channel=channel or current.channel,
            to_version=to_version or current.to_version,
        )
        self.items[request_id] = claimed
        return claimed

    def finish(self, request_id: str, status: RollbackStatus, detail: str, at: datetime) -> RollbackRequest:
        _aware(at)
        current = self._expect(request_id, RollbackStatus.REQUESTED)
        if status is RollbackStatus.OFFERED:
            done = replace(
                current,
                status=status,
                detail=detail,
                requested_by="",
                principal="",
                via="",
                requested_at=None,
            )
        else:
            done = replace(current, status=status, detail=detail, finished_at=at)
        self.items[request_id] = done
        return done


class FakeRollbackStarter:
    """RollbackStarter: records each payload; ``fail`` makes the next start raise."""

    def __init__(self) -> None:
        self.payloads: list[Mapping[str, Any]] = []
        self.fail: Exception | None = None

    def start(self, payload: Mapping[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.payloads.append(dict(payload))


if TYPE_CHECKING:  # mypy checks each fake against its port (structurally; nothing runs)
    _clock: Clock = FakeClock()
    _registry: ModelRegistry = FakeRegistry()
    _deployer: FunctionDeployer = FakeDeployer()
    _approvals: ApprovalStore = FakeApprovalStore()
    _runs: RunStore = FakeRunStore()
    _locks: LockStore = FakeLockStore()
    _deployed: DeployedStateStore = FakeDeployedStateStore()
    _notifier: ChatNotifier = FakeNotifier()
    _callbacks: TaskCallbacks = FakeCallbacks()
    _rollbacks: RollbackStore = FakeRollbackStore()
    _rollback_starter: RollbackStarter = FakeRollbackStarter()
