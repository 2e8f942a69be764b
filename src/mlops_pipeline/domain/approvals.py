"""Approval requests and decisions: a quorum of allowed approvers, every click recorded.

The author of the model is the trusted trigger's principal, resolved to a chat user when the
approval is requested (``domain/identity.py``); an unresolved author needs two approvers.
Each counted click is appended to the record by a conditional write; the record becomes
APPROVED only in the write that reaches the quorum, and only then is the waiting run told.
A decision that cannot reach the run is reverted so the record agrees with the run: CANCELLED
when the run no longer waits, PENDING again when the callback kept failing.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mlops_pipeline.domain.delivery import Retry
from mlops_pipeline.domain.errors import (
    APPROVAL_EXPIRED,
    APPROVAL_SUPERSEDED,
    MODEL_REJECTED,
    AlreadyDecidedError,
    ApprovalRequestFailed,
    DecisionConflictError,
    TaskGoneError,
)
from mlops_pipeline.domain.identity import IdentityResolver, Resolution
from mlops_pipeline.domain.lineage import iso
from mlops_pipeline.domain.models import APPROVE, REJECT, Approval, ApprovalStatus, Decision, MessageRef
from mlops_pipeline.domain.policy import ApprovalPolicy, required_approvals
from mlops_pipeline.ports import ApprovalStore, ChatNotifier, Clock, TaskCallbacks

LOG = logging.getLogger(__name__)

Blocks = Sequence[Mapping[str, Any]]
CardView = Callable[[Approval], tuple[str, Blocks]]

ACTIONS = {APPROVE: ApprovalStatus.APPROVED, REJECT: ApprovalStatus.REJECTED}
CLICK_RACES = 5  # re-reads after losing a concurrent write before giving up
NOT_FOUND = "This approval request does not exist (any more)."
ENDED = (ApprovalStatus.EXPIRED, ApprovalStatus.SUPERSEDED, ApprovalStatus.CANCELLED)


def new_approval_id() -> str:
    """Unguessable id: the only thing a Slack button carries."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class ApprovalRequest:
    """What the state machine asks approval for: a model version, with the task to answer."""

    task_token: str = field(repr=False)  # answers the waiting task: never printed, never on a card
    execution: str
    model_name: str
    model_version: str
    commit: str
    author: str  # the trusted trigger's principal (execution input ``author``), never the git email
    details: Mapping[str, Any]  # rendered on the card; never used for decisions
    timeout_seconds: int
    thread: MessageRef | None  # the run's Slack thread; None while Slack cannot be reached (no card)
    git_author: str = ""  # the commit's author email: shown as unverified, never trusted
    pushed_at: datetime | None = None  # the trigger event's time
    required_approvals: int = 1  # REQUIRED_APPROVALS; an unresolved author raises it to two


@dataclass(frozen=True)
class Outcome:
    """What happened to a click. ``message`` goes back to the clicking user (ephemeral)."""

    accepted: bool
    message: str
    approval: Approval | None = None
    decided_now: bool = False  # this click decided the approval and the run was told


def _newer(a: Approval, b: Approval) -> bool:
    """``a`` supersedes ``b``: its commit was pushed later; with equal or unknown push times the
    later request does (then the id), so of two requests exactly one is the newer."""
    if a.pushed_at is not None and b.pushed_at is not None and a.pushed_at != b.pushed_at:
        return a.pushed_at > b.pushed_at
    return (a.requested_at, a.id) > (b.requested_at, b.id)


def _run_name(execution: str) -> str:
    return execution.rsplit(":", 1)[-1]


class ApprovalService:
    def __init__(
        self,
        store: ApprovalStore,
        notifier: ChatNotifier,
        callbacks: TaskCallbacks,
        clock: Clock,
        card_view: CardView,
        decided_view: CardView,
        resolve_author: Callable[[str], Resolution] | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.callbacks = callbacks
        self.clock = clock
        self.card_view = card_view
        self.decided_view = decided_view
        # Trigger principal -> chat user; by default nobody resolves (two approvers each time).
        self.resolve_author = resolve_author or IdentityResolver().resolve
        self.retry = retry or Retry()

    # -- requesting -------------------------------------------------------------------------
    def request(self, request: ApprovalRequest) -> Approval:
        """Resolve the author, supersede older commits' approvals, store this one, post its card.

        If a commit pushed later already waits for approval, this request ends SUPERSEDED at
        once (its own task is failed with ApprovalSuperseded) and posts a card saying so. The
        record is stored before the others are compared with it, so that concurrent requests
        cannot both miss each other and both stay pending.

        The record (with the task token) is what lets anybody decide: if it cannot be stored,
        ApprovalRequestFailed (the run ends ApprovalNotRequested). The card is only one way to
        decide: if it cannot be posted (Slack down, after retries), the approval is returned
        without ``slack_ts`` and stays PENDING; it can still be decided by a signed interaction
        (``mlops-pipeline local approve``, an operator holding the signing secret on AWS).
        """
        now = self.clock.now()
        resolution = self.resolve_author(request.author)
        approval = Approval(
            id=new_approval_id(),
            task_token=request.task_token,
            execution=request.execution,
            model=request.model_name,
            version=request.model_version,
            commit=request.commit,
            author=request.author,
            requested_at=now,
            expires_at=now + timedelta(seconds=request.timeout_seconds),
            details=dict(request.details),
            author_slack_id=resolution.slack_id,
            author_via=resolution.via,
            git_author=request.git_author,
            pushed_at=request.pushed_at,
            required_approvals=required_approvals(
                request.required_approvals, resolution.slack_id is not None
            ),
        )
        try:
            self.store.put(approval)
        except Exception as exc:
            # A write that landed all the same must not stay clickable for a run that ends.
            with contextlib.suppress(Exception):
                self._end(approval, ApprovalStatus.CANCELLED, "the approval could not be requested")
            raise ApprovalRequestFailed(
                f"the approval of {approval.model} v{approval.version} could not be stored: {exc}"
            ) from exc
        # Stored first, compared second: of two requests racing here, each stored before either
        # lists, at least one sees the other, and _newer picks the same survivor for both.
        newer = self._supersede_older(approval)
        if newer is not None:
            return self._superseded_on_arrival(approval, newer, request.thread)
        ref = self._post_card(approval, request.thread, self.card_view)
        if ref is None:
            return approval  # PENDING, no card: the run waits all the same
        self.store.set_message(approval.id, ref)
        posted = replace(approval, slack_channel=ref.channel, slack_ts=ref.ts)
        current = self.store.get(approval.id)
        if current is not None and current.status is not ApprovalStatus.PENDING:
            # Superseded while its card was being posted: the card must not keep its buttons.
            self._refresh_card(current)
            return current
        return posted

    def _post_card(self, approval: Approval, thread: MessageRef | None, view: CardView) -> MessageRef | None:
        """Post ``view`` of the approval into the run's thread (retried); None if it cannot be."""
        if thread is None:
            LOG.warning("no Slack thread for the card of %s: Slack could not be reached", approval.id)
            return None
        text, blocks = view(approval)
        try:
            return self.retry.call(
                "posting the approval card",
                lambda: self.notifier.post(thread.channel, text, blocks=blocks, thread_ts=thread.ts),
            )
        except Exception as exc:
            LOG.warning("could not post the card of %s: %s", approval.id, exc)
            return None

    def _supersede_older(self, approval: Approval) -> Approval | None:
        """Supersede the other pending approvals of the model that ``approval`` is newer than
        (``_newer``); return one that is newer than ``approval``, if any."""
        newer = None
        for other in self.store.list_pending(approval.model):
            if other.execution == approval.execution or other.id == approval.id:
                continue
            if _newer(other, approval):
                newer = other
                continue
            reason = f"superseded by {approval.model} v{approval.version} ({_run_name(approval.execution)})"
            self._finish(other, ApprovalStatus.SUPERSEDED, APPROVAL_SUPERSEDED, reason)
        return newer

    def _superseded_on_arrival(
        self, approval: Approval, newer: Approval, thread: MessageRef | None
    ) -> Approval:
        reason = (
            f"commit {newer.commit[:8]} (v{newer.version}), pushed later, already waits for approval; "
            "an older commit never replaces it"
        )
        # None: a racing newer request ended it first; the stored record is what the card shows.
        decided = (
            self._end(approval, ApprovalStatus.SUPERSEDED, reason) or self.store.get(approval.id) or approval
        )
        ref = self._post_card(decided, thread, self.decided_view)
        try:
            if ref is not None:
                self.store.set_message(decided.id, ref)
                decided = replace(decided, slack_channel=ref.channel, slack_ts=ref.ts)
        except Exception as exc:  # the card is information only; the run must still end
            LOG.warning("could not record the superseded card of %s: %s", decided.id, exc)
        with contextlib.suppress(TaskGoneError):
            self.retry.call(
                "failing a superseded request",
                lambda: self.callbacks.send_failure(decided.task_token, APPROVAL_SUPERSEDED, reason),
            )
        return decided

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, *, approval_id: str, action: str, user_id: str, policy: ApprovalPolicy) -> Outcome:
        """Count a click under ``policy``. Refusals change nothing; the same approver counts once."""
        if action not in ACTIONS:
            return Outcome(False, f"Unknown action {action!r}.")
        approval = self.store.get(approval_id)
        if approval is None:
            return Outcome(False, NOT_FOUND)
        members: frozenset[str] | None = None
        for _ in range(CLICK_RACES):
            if approval.status.is_final:
                return self._already_final(approval, action, user_id)
            if members is None:
                members = self._members(policy)
            refusal = policy.refusal(user_id, approval, members, action)
            if refusal:
                return Outcome(False, refusal, approval)
            now = self.clock.now()
            if now >= approval.expires_at:
                return Outcome(False, f"This approval expired at {iso(approval.expires_at)}.", approval)
            required = policy.required_for(approval)
            if action == APPROVE and user_id in approval.approvers:
                count = len(approval.approvers)
                return Outcome(True, f"Your approval is already counted ({count} of {required}).", approval)
            counted = len(approval.approvers) + (action == APPROVE)
            final = ACTIONS[action] if action == REJECT or counted >= required else None
            try:
                updated = self.store.add_decision(
                    approval_id, Decision(user_id, action, now), len(approval.decisions), final
                )
            except (DecisionConflictError, AlreadyDecidedError) as exc:
                current = exc.current if isinstance(exc.current, Approval) else self.store.get(approval_id)
                if current is None:
                    return Outcome(False, NOT_FOUND)
                approval = current  # somebody else's click came first: judge again on the new record
                continue
            if final is None:
                self._refresh_card(updated)
                return Outcome(
                    True,
                    f"Your approval is counted: {counted} of {required}. "
                    "It goes ahead once enough other approvers agree.",
                    updated,
                )
            return self._deliver(updated, action)
        return Outcome(False, "Too many clicks at once: yours was not counted. Please click again.", approval)

    def _deliver(self, decided: Approval, action: str) -> Outcome:
        """Tell the waiting run; revert the record when that is impossible or keeps failing."""
        verb = "approved" if action == APPROVE else "rejected"
        attempts = 0

        def send() -> None:
            nonlocal attempts
            attempts += 1
            self._callback(decided)

        try:
            self.retry.call("answering the waiting run", send)
        except TaskGoneError as gone:
            if attempts == 1:
                reason = (
                    f"the run no longer waits for a decision ({gone.code or 'task gone'}); nothing was {verb}"
                )
                cancelled = self._revert(decided, ApprovalStatus.CANCELLED, reason)
                return Outcome(
                    False,
                    "Refused: this run is no longer waiting for a decision (it finished, was stopped "
                    f"or timed out), so nothing was {verb}. The card is updated.",
                    cancelled,
                )
            # An earlier attempt failed after it may have reached the run: the write stands
            # (DeployProd re-checks the record; a timed-out run's ExpireApproval corrects it).
            LOG.warning("approval %s: answer possibly delivered before %s", decided.id, gone.code)
        except Exception as exc:
            LOG.warning("approval %s: the run could not be told: %s", decided.id, exc)
            reason = f"a click could not be delivered to the run ({type(exc).__name__}); it was not counted"
            reopened = self._revert(decided, ApprovalStatus.PENDING, reason)
            return Outcome(
                False,
                "Your decision could not be delivered to the pipeline, so it was not counted. "
                "Please click again.",
                reopened,
            )
        self._refresh_card(decided)
        quorum = f" ({len(decided.approvers)} approvals)" if len(decided.approvers) > 1 else ""
        return Outcome(True, f"You {verb} {decided.model} v{decided.version}{quorum}.", decided, True)

    def _callback(self, approval: Approval) -> None:
        if approval.status is ApprovalStatus.APPROVED:
            self.callbacks.send_success(
                approval.task_token,
                {
                    "approval_id": approval.id,
                    "approved_by": ",".join(approval.approvers),
                    "approved_at": iso(approval.decided_at) if approval.decided_at else "",
                },
            )
        elif approval.status is ApprovalStatus.REJECTED:
            self.callbacks.send_failure(
                approval.task_token,
                MODEL_REJECTED,
                f"{approval.model} v{approval.version} rejected by {approval.decided_by}",
            )

    def _already_final(self, approval: Approval, action: str, user_id: str) -> Outcome:
        status = approval.status
        if status in ENDED:
            why = f": {approval.reason}" if approval.reason else ""
            return Outcome(False, f"This request is {status.value.lower()}{why}. Nothing changed.", approval)
        mine = user_id in approval.approvers if action == APPROVE else approval.decided_by == user_id
        if status is ACTIONS[action] and mine:
            # A retried or double click of the same person: the same answer, nothing sent again
            # (a second callback could race the first one and make it look undelivered).
            return Outcome(True, f"Already {status.value.lower()} by you.", approval)
        who = f" by <@{approval.decided_by}>" if approval.decided_by else ""
        when = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
        return Outcome(False, f"This request is already {status.value.lower()}{who}{when}.", approval)

    # -- ending -----------------------------------------------------------------------------
    def expire(self, execution: str, model_name: str) -> list[str]:
        """The run's approval step timed out: its approvals end EXPIRED.

        A PENDING one expires; an APPROVED or REJECTED one never reached the run (it timed out
        instead), so that decision is reverted to EXPIRED too: the record never says APPROVED
        for a run that timed out.
        """
        expired = []
        reason = "nobody's decision reached the run before the approval timed out"
        for approval in self.store.list_for_execution(model_name, execution):
            if approval.status is ApprovalStatus.PENDING:
                ended = self._end(approval, ApprovalStatus.EXPIRED, reason)
            elif approval.status in ACTIONS.values():
                ended = self._revert(approval, ApprovalStatus.EXPIRED, reason)
            else:
                continue
            if ended is not None and ended.status is ApprovalStatus.EXPIRED:
                expired.append(ended.id)
        return expired

    def end_for_run(self, execution: str, model_name: str, run_status: str) -> list[str]:
        """The run ended (ABORTED, FAILED, TIMED_OUT): its pending approvals end with it."""
        status = ApprovalStatus.EXPIRED if run_status == "TIMED_OUT" else ApprovalStatus.CANCELLED
        reason = f"the run ended ({run_status}) before a decision"
        ended = []
        for approval in self.store.list_for_execution(model_name, execution):
            if approval.status is ApprovalStatus.PENDING and self._end(approval, status, reason):
                ended.append(approval.id)
        return ended

    # -- internals --------------------------------------------------------------------------
    def _members(self, policy: ApprovalPolicy) -> frozenset[str]:
        if not policy.allowed_group:
            return frozenset()
        return self.notifier.usergroup_members(policy.allowed_group)

    def _end(self, approval: Approval, status: ApprovalStatus, reason: str) -> Approval | None:
        """PENDING -> ``status`` with ``reason`` and the card updated; None if it had moved on."""
        try:
            ended = self.store.decide(approval.id, status, None, self.clock.now(), reason=reason)
        except AlreadyDecidedError:
            return None
        self._refresh_card(ended)
        return ended

    def _revert(self, decided: Approval, status: ApprovalStatus, reason: str) -> Approval:
        """Undo our own undelivered decision (unless the record moved on meanwhile)."""
        try:
            reverted = self.retry.call(
                "reverting an undelivered decision",
                lambda: self.store.revert(
                    decided.id, decided.status, len(decided.decisions), status, self.clock.now(), reason
                ),
            )
        except AlreadyDecidedError as exc:
            return exc.current if isinstance(exc.current, Approval) else decided
        self._refresh_card(reverted)
        return reverted

    def _finish(self, approval: Approval, status: ApprovalStatus, error: str, cause: str) -> None:
        ended = self._end(approval, status, cause)
        if ended is None:
            return
        try:  # nothing may wait for this answer any more; the record holds the decision
            self.retry.call(
                "failing a superseded run",
                lambda: self.callbacks.send_failure(ended.task_token, error, cause),
            )
        except TaskGoneError:
            pass
        except Exception as exc:
            LOG.warning("could not fail the superseded run of %s: %s", ended.id, exc)

    def _refresh_card(self, approval: Approval) -> None:
        """Re-render the card (buttons while PENDING); a failure leaves a stale card, never a wrong record."""
        if not (approval.slack_channel and approval.slack_ts):
            return
        view = self.card_view if approval.status is ApprovalStatus.PENDING else self.decided_view
        text, blocks = view(approval)
        ref = MessageRef(approval.slack_channel, approval.slack_ts)
        self.retry.best_effort(
            "updating the approval card", lambda: self.notifier.update(ref, text, blocks=blocks)
        )


__all__ = ["APPROVAL_EXPIRED", "ApprovalRequest", "ApprovalService", "Outcome", "new_approval_id"]
