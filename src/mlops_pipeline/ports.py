"""Ports: every outside dependency of the domain sits behind one of these Protocols.

Adapters in ``adapters/`` implement them with boto3, the MLflow client and slack_sdk;
unit tests implement them with in-memory fakes (``tests/fakes.py``), and one scenario
suite (``tests/functional/ports/``) runs the same tests over each fake and its adapter.

Each method documents what it returns and which errors of ``mlops_pipeline.domain.errors``
it raises; adapters translate their SDK's failures into exactly those, so callers never
see botocore, MLflow or slack_sdk types. A failure the port does not name (a throttled or
unreachable AWS service, say) is the adapter's own and may propagate as is. Datetimes
are timezone-aware; the stores raise ValueError for a naive one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    Artifact,
    Decision,
    DeployedState,
    DeployIntent,
    DeployResult,
    InvokeResult,
    Lock,
    MessageRef,
    ModelVersionInfo,
    RunRecord,
    StepStatus,
)
from mlops_pipeline.domain.rollout import BakeMetrics
from mlops_pipeline.domain.webhook import Delivery, Started

if TYPE_CHECKING:  # domain.prod_rollback imports this module
    from mlops_pipeline.domain.prod_rollback import RollbackRequest, RollbackStatus

# The RunRecord fields RunStore.update may set; the thread and the steps have their own methods.
RUN_UPDATE_FIELDS = frozenset(
    {
        "status",
        "model",
        "version",
        "commit",
        "repository",
        "branch",
        "author",
        "serving_flavor",
        "serving_fallback_reason",
    }
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
    """MLflow model registry, aliases only (never stages).

    Every method validates its names first and raises InvalidRegistryInputError (also a
    ValueError) for a malformed model name, commit, version, alias or tag, before anything
    reaches the registry. A registry that refuses the credentials raises
    RegistryAuthenticationError; any other registry failure RegistryError.
    """

    def find_version_by_commit(self, model_name: str, commit: str) -> ModelVersionInfo | None:
        """The highest version tagged ``git_commit=<commit>`` (commit ids compare in lower case);
        None if no version has that commit or the model does not exist."""
        ...

    def get_version(self, model_name: str, version: str) -> ModelVersionInfo:
        """The version with its tags, aliases and its run's metrics; ModelNotFoundError if the
        model or the version does not exist."""
        ...

    def get_by_alias(self, model_name: str, alias: str) -> ModelVersionInfo | None:
        """The version behind ``alias``; None if the model or the alias does not exist."""
        ...

    def get_champion(self, model_name: str) -> ModelVersionInfo | None:
        """The version behind alias ``production`` or None for a first model."""
        ...

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``, moving it away from any other version of the model;
        ModelNotFoundError if the model or the version does not exist."""
        ...

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        """Set (add or overwrite) the given tags; other tags stay. All tags are validated before
        the first write. ModelNotFoundError if the version does not exist (and ``tags`` is not
        empty: no tags, no call)."""
        ...


class FunctionDeployer(Protocol):
    """One target function (stage or prod) reached through its account's deploy role.

    Every failure to read or change the function raises DeploymentError.
    """

    function_name: str

    def current_version(self) -> str | None:
        """The version behind the alias, or None if the alias does not exist yet;
        DeploymentError if the function does not exist or cannot be read."""
        ...

    def deploy(
        self,
        artifact: Artifact,
        before_alias_move: Callable[[str | None, str], None] | None = None,
        move_alias: bool = True,
    ) -> DeployResult:
        """UpdateFunctionCode with the artifact (zip from S3 or image), wait, PublishVersion, move
        the alias; returns the previous and the new version. DeploymentError on any failure (also
        when the function's package type does not take this kind of artifact, or the code Lambda
        stored is not the artifact's sha256), with the alias left untouched.

        ``before_alias_move(previous, new)`` runs once the new version is published and before the
        alias moves; if it raises, the alias stays where it was and the error propagates. With
        ``move_alias=False`` (a gradual rollout) the version is published and the alias left alone."""
        ...

    def rollback(self, to_version: str) -> None:
        """Move the alias back to a published version, all its traffic (weighted routing cleared);
        DeploymentError if ``to_version`` is not a published version number of the function or
        the alias cannot be moved."""
        ...

    def invoke_alias(self, payload: Mapping[str, Any], qualifier: str | None = None) -> InvokeResult:
        """Invoke the alias (or the published version ``qualifier``) synchronously. A function
        that ran and failed is a result (``function_error`` set), not an exception; InvokeError if
        it could not be invoked."""
        ...

    def shift_traffic(self, new_version: str, weight: int, previous_version: str | None) -> None:
        """Give ``new_version`` ``weight`` percent of the alias's traffic, the rest to
        ``previous_version`` (100: the new version only); RevisionId-guarded, DeploymentError if the
        alias moved meanwhile or cannot be changed."""
        ...

    def bake_metrics(self, versions: Sequence[str], start: datetime, end: datetime) -> dict[str, BakeMetrics]:
        """What each version served through the alias in [start, end) (CloudWatch of the target
        account); MetricsUnavailableError when the metrics cannot be read."""
        ...


class ApprovalStore(Protocol):
    def put(self, approval: Approval) -> None:
        """Store an approval. An approval with the same id that is still PENDING is replaced (a
        retried request); one that is no longer PENDING is kept and AlreadyDecidedError
        (``current`` = the stored approval) is raised."""
        ...

    def get(self, approval_id: str) -> Approval | None:
        """The stored approval, or None."""
        ...

    def decide(
        self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime, reason: str = ""
    ) -> Approval:
        """Conditional write PENDING -> ``status``; returns the decided approval (``decided_by`` =
        ``by``, which may be None for expiry, ``decided_at`` = ``at``, ``reason`` = ``reason``).

        ValueError if ``status`` is not final (PENDING); ApprovalNotFoundError if no approval has
        that id; AlreadyDecidedError(current=the stored approval) if it is no longer PENDING.
        Of concurrent decisions exactly one succeeds.
        """
        ...

    def add_decision(
        self, approval_id: str, decision: Decision, seen: int, status: ApprovalStatus | None = None
    ) -> Approval:
        """Append ``decision`` to a PENDING approval that still has exactly ``seen`` decisions (as
        the caller read it); with a final ``status`` the same write decides it (``decided_by`` =
        ``decision.user``, ``decided_at`` = ``decision.at``). Returns the stored approval.

        One conditional write: of concurrent appends on the same ``seen`` exactly one succeeds, so
        no decision is counted twice or lost. DecisionConflictError(current) if another decision
        came first (read ``current`` and try again); AlreadyDecidedError(current) if the approval
        is no longer PENDING; ApprovalNotFoundError; ValueError if ``status`` is PENDING or
        ``seen`` is negative.
        """
        ...

    def revert(
        self,
        approval_id: str,
        expected: ApprovalStatus,
        seen: int,
        status: ApprovalStatus,
        at: datetime,
        reason: str,
    ) -> Approval:
        """Undo a decision that never reached the waiting run, so the record agrees with the run.

        Conditional on the approval being ``expected`` (a final status) with exactly ``seen``
        decisions, i.e. nothing changed since the caller's own write. ``status`` PENDING: the
        last decision is dropped and ``decided_by``/``decided_at`` cleared (the run still waits;
        that approver has to click again). Another final status (EXPIRED, CANCELLED): set, with
        ``decided_at`` = ``at``, ``decided_by`` cleared, the decisions kept as the audit trail.
        ``reason`` is stored either way. AlreadyDecidedError(current) if the condition fails;
        ApprovalNotFoundError; ValueError if ``expected`` is PENDING or equals ``status``.
        """
        ...

    def list_pending(self, model_name: str) -> Sequence[Approval]:
        """The PENDING approvals of that model, oldest request first (ties by id)."""
        ...

    def list_for_execution(self, model_name: str, execution: str) -> Sequence[Approval]:
        """Every approval of that model requested by that execution, any status, oldest first
        (ties by id)."""
        ...

    def set_message(self, approval_id: str, ref: MessageRef) -> None:
        """Record where the approval's card lives (any status); ApprovalNotFoundError if absent."""
        ...


class RunStore(Protocol):
    def get(self, execution: str) -> RunRecord | None:
        """The run record, or None."""
        ...

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        """Create the record unless one exists for that execution; returns the stored record
        (the existing one, unchanged, if there was one)."""
        ...

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        """Store the Slack thread once; False if another writer set it first (nothing changes).
        RunNotFoundError if there is no run record."""
        ...

    def record_step(self, execution: str, step: StepStatus) -> None:
        """Append one step status to the run's history (and so to the thread's outbox, after the
        ``posted`` ones); RunNotFoundError if there is no run record."""
        ...

    def mark_posted(self, execution: str, seen: int, posted: int) -> bool:
        """Move the run's ``posted`` count from ``seen`` (as the caller read it) to ``posted``, the
        steps up to there being in the thread now; one conditional write. False if the count is
        no longer ``seen`` (another reporter moved it; nothing changes). ValueError unless
        ``0 <= seen < posted``; RunNotFoundError if there is no run record."""
        ...

    def update(self, execution: str, **fields: Any) -> None:
        """Set plain fields (``RUN_UPDATE_FIELDS``); values are stored as strings and None clears a
        field back to its RunRecord default. ValueError for any other field (nothing changes);
        RunNotFoundError if there is no run record. No fields: nothing happens."""
        ...

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]:
        """At most ``limit`` runs, newest ``started_at`` first; runs without a start time are not
        listed; ``limit <= 0`` gives an empty list."""
        ...


class LockStore(Protocol):
    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        """Take the lease ``now`` .. ``now + ttl_seconds`` and return it.

        The lock is free when absent or expired (``expires_at <= now``); its owner may take it
        again, which renews the lease. DeploymentLockedError (naming the holder and the expiry)
        if another owner holds it; ValueError if ``ttl_seconds <= 0`` or ``owner`` is empty.
        """
        ...

    def release(self, name: str, owner: str) -> bool:
        """Delete the lock if ``owner`` holds it (expired or not, as long as nobody took it over);
        False otherwise, and nothing changes."""
        ...

    def record_intent(self, name: str, intent: DeployIntent) -> None:
        """Store what the deploy holding lock ``name`` is about to do to ``live`` (one intent per
        lock, the last write wins). It outlives the lease: releasing, renewing or taking over the
        lock leaves it, so a recovery reads it after the deploy died."""
        ...

    def intent(self, name: str) -> DeployIntent | None:
        """The last intent recorded under lock ``name``, or None if none ever was."""
        ...


class DeployedStateStore(Protocol):
    def get(self, environment: str, model: str) -> DeployedState | None:
        """What ``model``'s function in ``environment`` runs now, or None before its first deployment."""
        ...

    def put(self, state: DeployedState) -> None:
        """Record what ``state.model``'s function in ``state.environment`` runs now; the last write wins (the stale-commit rule
        is the domain's, not the store's)."""
        ...


class ChatNotifier(Protocol):
    """Slack Web API, as far as the pipeline uses it.

    A call the chat service refuses (unknown channel, message or user, no text) or cannot
    be made (connection) raises ChatError with the service's reason as ``code``.
    """

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        """Post a message (a reply in that thread when ``thread_ts`` is set); returns where it
        lives. Each message gets its own ``ts``. ChatError if refused."""
        ...

    def update(self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Replace the message's text, and its blocks when given (None keeps them);
        ChatError if there is no such message."""
        ...

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees; ChatError if refused (e.g. unknown user)."""
        ...

    def lookup_user_by_email(self, email: str) -> str | None:
        """The user id with that email address, or None when no user has it; ChatError on
        any other failure."""
        ...

    def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        """The user ids in the user group; ChatError if the group does not exist."""
        ...


class TaskCallbacks(Protocol):
    """Step Functions task-token callbacks.

    A token whose task no longer waits (answered already, timed out, its execution ended, or
    never valid) raises TaskGoneError with the service's reason as ``code``; the token itself
    never appears in the message.
    """

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        """Complete the waiting task with ``output``; TaskGoneError if it is gone."""
        ...

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        """Fail the waiting task with ``error`` (a stable name the ASL catches); TaskGoneError
        if it is gone."""
        ...


class BuildLogReader(Protocol):
    """CloudWatch Logs, as far as reporting a failed build needs it (read only)."""

    def tail(self, group: str, stream: str, limit: int) -> Sequence[str]:
        """The last ``limit`` (>= 1) lines of the stream, oldest first (an empty stream: []);
        LogUnavailableError if the group or stream does not exist or cannot be read."""
        ...


class DeliveryStore(Protocol):
    """The git webhook's idempotency records: one per push (``Push.key``), expiring at ``expires_at``."""

    def claim(self, key: str, delivery_id: str, received_at: datetime, expires_at: datetime) -> Delivery:
        """Record that ``delivery_id`` carries push ``key``, unless a record of ``key`` exists (a
        conditional write: of two racing claims exactly one creates it); returns the stored record,
        this one or the earlier one. ValueError for a naive datetime."""
        ...

    def mark_started(self, key: str, execution: str) -> None:
        """Record the execution the push started (writing the same ARN again changes nothing)."""
        ...


class PipelineStarter(Protocol):
    """StartExecution of the pipeline's state machine."""

    def start(self, name: str, execution_input: Mapping[str, Any]) -> Started:
        """Start execution ``name`` with ``execution_input``; an execution of that name is never
        started twice. One that ended, or runs with another input: ``Started(its ARN, new=False)``;
        one that runs with the same input: ``Started(its ARN, new=True)`` (AWS answers that call as
        the first). PipelineStartError on any other failure."""
        ...


class RollbackStore(Protocol):
    """Prod rollback offers and requests, one per successful run (``RollbackRequest.id``)."""

    def offer(self, request: RollbackRequest) -> RollbackRequest:
        """Store an OFFERED request unless one with that id exists (a conditional put); returns the
        stored one (this or the earlier, unchanged). ValueError for a naive datetime."""
        ...

    def get(self, request_id: str) -> RollbackRequest | None:
        """The stored request, or None."""
        ...

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
        """OFFERED -> REQUESTED with who, how, why and when, in one conditional write: of two racing
        claims exactly one succeeds; a non-empty ``to_version`` replaces the offered one (the CLI's
        ``--to``). AlreadyDecidedError(current = the stored request, or None when
        there is none) otherwise."""
        ...

    def finish(self, request_id: str, status: RollbackStatus, detail: str, at: datetime) -> RollbackRequest:
        """REQUESTED -> ``status`` (DONE, REFUSED, FAILED; OFFERED gives the offer back, e.g. when
        the rollback could not be started) with ``detail``; AlreadyDecidedError(current) if the
        request is not REQUESTED (finished by an earlier attempt)."""
        ...

    def use_proof(self, digest: str, at: datetime, expires_at: datetime) -> bool:
        """Record a terminal's identity proof (``digest`` of its signature) as used, in one
        conditional write: True the first time, False for a proof seen before (a replay). The
        record may go once the proof has expired (``expires_at``). ValueError for a naive datetime."""
        ...


class RollbackStarter(Protocol):
    """Starts the prod rollback function on a claimed request, without waiting for it."""

    def start(self, payload: Mapping[str, Any]) -> None:
        """Invoke asynchronously; an exception if the invocation was not accepted."""
        ...
