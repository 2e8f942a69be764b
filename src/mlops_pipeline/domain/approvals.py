"""Approval requests and decisions: exactly one decision per request, every refusal explained."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from mlops_pipeline.domain.errors import (
    APPROVAL_EXPIRED,
    APPROVAL_SUPERSEDED,
    MODEL_REJECTED,
    AlreadyDecidedError,
    TaskGoneError,
)
from mlops_pipeline.domain.lineage import iso
from mlops_pipeline.domain.models import Approval, ApprovalStatus, MessageRef
from mlops_pipeline.domain.policy import ApprovalPolicy
from mlops_pipeline.ports import ApprovalStore, ChatNotifier, Clock, TaskCallbacks

Blocks = Sequence[Mapping[str, Any]]
CardView = Callable[[Approval], tuple[str, Blocks]]

ACTIONS = {"approve": ApprovalStatus.APPROVED, "reject": ApprovalStatus.REJECTED}


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
    author: str  # the commit author's email (or name): never trusted as a Slack id
    details: Mapping[str, Any]  # rendered on the card; never used for decisions
    timeout_seconds: int
    thread: MessageRef


@dataclass(frozen=True)
class Outcome:
    """What happened to a click. ``message`` goes back to the clicking user (ephemeral)."""

    accepted: bool
    message: str
    approval: Approval | None = None


class ApprovalService:
    def __init__(
        self,
        store: ApprovalStore,
        notifier: ChatNotifier,
        callbacks: TaskCallbacks,
        clock: Clock,
        card_view: CardView,
        decided_view: CardView,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.callbacks = callbacks
        self.clock = clock
        self.card_view = card_view
        self.decided_view = decided_view

    # -- requesting -------------------------------------------------------------------------
    def request(self, request: ApprovalRequest) -> Approval:
        """Supersede older pending approvals of the model, store this one, post its card."""
        now = self.clock.now()
        execution, name, version = request.execution, request.model_name, request.model_version
        for older in self.store.list_pending(name):
            if older.execution != execution:
                self._finish(
                    older,
                    ApprovalStatus.SUPERSEDED,
                    None,
                    APPROVAL_SUPERSEDED,
                    f"superseded by {name} v{version} ({execution.rsplit(':', 1)[-1]})",
                )
        approval = Approval(
            id=new_approval_id(),
            task_token=request.task_token,
            execution=execution,
            model=name,
            version=version,
            commit=request.commit,
            author=request.author,
            requested_at=now,
            expires_at=now + timedelta(seconds=request.timeout_seconds),
            details=dict(request.details),
        )
        self.store.put(approval)
        text, blocks = self.card_view(approval)
        ref = self.notifier.post(request.thread.channel, text, blocks=blocks, thread_ts=request.thread.ts)
        self.store.set_message(approval.id, ref)
        return replace(approval, slack_channel=ref.channel, slack_ts=ref.ts)

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, *, approval_id: str, action: str, user_id: str, policy: ApprovalPolicy) -> Outcome:
        """Apply a click under ``policy``. Refusals change nothing; a repeated identical click is a no-op.

        The commit author's Slack id and the approver group's members are looked up in the
        chat workspace here, only for a pending approval (the clicks the policy must judge).
        """
        status = ACTIONS.get(action)
        if status is None:
            return Outcome(False, f"Unknown action {action!r}.")
        approval = self.store.get(approval_id)
        if approval is None:
            return Outcome(False, "This approval request does not exist (any more).")
        if approval.status.is_final:
            return self._already_final(approval, status, user_id)
        refusal = policy.refusal(user_id, approval, self._author_slack_id(approval), self._members(policy))
        if refusal:
            return Outcome(False, refusal, approval)
        now = self.clock.now()
        if now >= approval.expires_at:
            return Outcome(False, f"This approval expired at {iso(approval.expires_at)}.", approval)
        try:
            decided = self.store.decide(approval_id, status, user_id, now)
        except AlreadyDecidedError as exc:
            current = exc.current if isinstance(exc.current, Approval) else self.store.get(approval_id)
            if current is None:
                return Outcome(False, "This approval request does not exist (any more).")
            return self._already_final(current, status, user_id)
        self._send(decided)
        self._refresh_card(decided)
        verb = "approved" if status is ApprovalStatus.APPROVED else "rejected"
        return Outcome(True, f"You {verb} {decided.model} v{decided.version}.", decided)

    def expire(self, execution: str, model_name: str) -> list[str]:
        """Mark the execution's pending approvals expired (the state machine timed out)."""
        expired = []
        for approval in self.store.list_pending(model_name):
            if approval.execution == execution:
                try:
                    decided = self.store.decide(approval.id, ApprovalStatus.EXPIRED, None, self.clock.now())
                except AlreadyDecidedError:
                    continue
                self._refresh_card(decided)
                expired.append(decided.id)
        return expired

    # -- internals --------------------------------------------------------------------------
    def _author_slack_id(self, approval: Approval) -> str | None:
        # Only an email address can be looked up (git may give a bare name).
        return self.notifier.lookup_user_by_email(approval.author) if "@" in approval.author else None

    def _members(self, policy: ApprovalPolicy) -> frozenset[str]:
        if not policy.allowed_group:
            return frozenset()
        return self.notifier.usergroup_members(policy.allowed_group)

    def _already_final(self, approval: Approval, wanted: ApprovalStatus, user_id: str) -> Outcome:
        if approval.status is wanted and approval.decided_by == user_id:
            # A retried or double click of the same person: answer the same, re-send the
            # callback in case the first attempt did not reach Step Functions.
            self._send(approval)
            return Outcome(True, f"Already {approval.status.value.lower()} by you.", approval)
        who = f" by <@{approval.decided_by}>" if approval.decided_by else ""
        when = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
        return Outcome(
            False, f"This request is already {approval.status.value.lower()}{who}{when}.", approval
        )

    def _send(self, approval: Approval) -> None:
        # A gone task (timed out, stopped) waits for no answer; the record still holds the decision.
        with contextlib.suppress(TaskGoneError):
            if approval.status is ApprovalStatus.APPROVED:
                self.callbacks.send_success(
                    approval.task_token,
                    {
                        "approval_id": approval.id,
                        "approved_by": approval.decided_by or "",
                        "approved_at": iso(approval.decided_at) if approval.decided_at else "",
                    },
                )
            elif approval.status is ApprovalStatus.REJECTED:
                self.callbacks.send_failure(
                    approval.task_token,
                    MODEL_REJECTED,
                    f"{approval.model} v{approval.version} rejected by {approval.decided_by}",
                )

    def _finish(
        self, approval: Approval, status: ApprovalStatus, by: str | None, error: str, cause: str
    ) -> None:
        try:
            decided = self.store.decide(approval.id, status, by, self.clock.now())
        except AlreadyDecidedError:
            return
        # Nothing may wait for this answer any more; the record still holds the decision.
        with contextlib.suppress(TaskGoneError):
            self.callbacks.send_failure(decided.task_token, error, cause)
        self._refresh_card(decided)

    def _refresh_card(self, approval: Approval) -> None:
        if approval.slack_channel and approval.slack_ts:
            text, blocks = self.decided_view(approval)
            self.notifier.update(MessageRef(approval.slack_channel, approval.slack_ts), text, blocks=blocks)


__all__ = ["APPROVAL_EXPIRED", "ApprovalRequest", "ApprovalService", "Outcome", "new_approval_id"]
