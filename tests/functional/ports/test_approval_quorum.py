"""ApprovalStore contract for quorums: decisions appended by conditional writes, reverts, lookups.

Runs over the fake and DynamoApprovalStore (moto), like the rest of this suite.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from mlops_pipeline.domain.errors import AlreadyDecidedError, ApprovalNotFoundError, DecisionConflictError
from mlops_pipeline.domain.models import APPROVE, REJECT, ApprovalStatus, Decision
from mlops_pipeline.ports import ApprovalStore

from .samples import T0, approval

pytestmark = pytest.mark.functional

APPROVED, PENDING = ApprovalStatus.APPROVED, ApprovalStatus.PENDING


def click(user: str, minutes: int = 1, action: str = APPROVE) -> Decision:
    return Decision(user, action, T0 + timedelta(minutes=minutes))


def test_two_approvers_reach_a_quorum_of_two(approval_store: ApprovalStore) -> None:
    approval_store.put(approval(required_approvals=2))

    first = approval_store.add_decision("a1", click("U1"), seen=0)
    assert (first.status, first.approvers, first.decided_by) == (PENDING, ("U1",), None)

    second = approval_store.add_decision("a1", click("U2", 2), seen=1, status=APPROVED)
    assert (second.status, second.approvers) == (APPROVED, ("U1", "U2"))
    assert (second.decided_by, second.decided_at) == ("U2", T0 + timedelta(minutes=2))
    assert second.decisions == (click("U1"), click("U2", 2))
    assert approval_store.get("a1") == second
    # Decided: no further decision is appended.
    with pytest.raises(AlreadyDecidedError) as info:
        approval_store.add_decision("a1", click("U3", 3), seen=2)
    assert info.value.current == second


def test_the_same_approver_twice_conflicts_on_the_stale_count(approval_store: ApprovalStore) -> None:
    """Two clicks that read the same record: the second write fails and sees the first."""
    approval_store.put(approval(required_approvals=2))
    approval_store.add_decision("a1", click("U1"), seen=0)

    with pytest.raises(DecisionConflictError) as info:
        approval_store.add_decision("a1", click("U1", 2), seen=0)

    current = info.value.current
    assert current is not None and current.approvers == ("U1",)  # type: ignore[attr-defined]
    stored = approval_store.get("a1")
    assert stored is not None and stored.decisions == (click("U1"),)


@pytest.fixture
def atomic_conditional_writes() -> None:
    """DynamoDB checks a condition and writes as one step; plain moto does it in two, so threads
    can both pass. The emulator's fix (the local stack runs with it) makes moto atomic as AWS is."""
    from mlops_pipeline.local.emulator import moto_fixes

    moto_fixes.install()


@pytest.mark.usefixtures("atomic_conditional_writes")
def test_concurrent_appends_on_the_same_count_exactly_one_wins(approval_store: ApprovalStore) -> None:
    approval_store.put(approval(required_approvals=3))
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def append(user: str) -> None:
        barrier.wait()
        try:
            approval_store.add_decision("a1", click(user), seen=0)
            outcomes.append(user)
        except DecisionConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=append, args=(f"U{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and outcomes.count("conflict") == 5
    stored = approval_store.get("a1")
    assert stored is not None and stored.approvers == tuple(winners) and stored.status is PENDING


def test_a_reject_decides_at_once(approval_store: ApprovalStore) -> None:
    approval_store.put(approval(required_approvals=2))
    approval_store.add_decision("a1", click("U1"), seen=0)
    rejected = approval_store.add_decision(
        "a1", click("U2", 2, REJECT), seen=1, status=ApprovalStatus.REJECTED
    )
    assert (rejected.status, rejected.decided_by) == (ApprovalStatus.REJECTED, "U2")
    assert [d.action for d in rejected.decisions] == [APPROVE, REJECT]


def test_add_decision_errors(approval_store: ApprovalStore) -> None:
    with pytest.raises(ApprovalNotFoundError):
        approval_store.add_decision("missing", click("U1"), seen=0)
    approval_store.put(approval())
    with pytest.raises(ValueError, match="final status"):
        approval_store.add_decision("a1", click("U1"), seen=0, status=PENDING)
    with pytest.raises(ValueError, match="negative"):
        approval_store.add_decision("a1", click("U1"), seen=-1)
    with pytest.raises(ValueError, match="timezone"):
        approval_store.add_decision("a1", Decision("U1", APPROVE, T0.replace(tzinfo=None)), seen=0)
    assert approval_store.get("a1") == approval()


def test_revert_to_pending_drops_the_undelivered_decision(approval_store: ApprovalStore) -> None:
    approval_store.put(approval(required_approvals=2))
    approval_store.add_decision("a1", click("U1"), seen=0)
    approval_store.add_decision("a1", click("U2", 2), seen=1, status=APPROVED)

    reopened = approval_store.revert("a1", APPROVED, 2, PENDING, T0, "not delivered")

    assert (reopened.status, reopened.decided_by, reopened.decided_at) == (PENDING, None, None)
    assert (reopened.decisions, reopened.reason) == ((click("U1"),), "not delivered")
    assert approval_store.get("a1") == reopened
    # Pending again: the next approval counts from one decision.
    assert approval_store.add_decision("a1", click("U3", 3), seen=1, status=APPROVED).approvers == (
        "U1",
        "U3",
    )


def test_revert_to_cancelled_keeps_the_audit_trail(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    approval_store.add_decision("a1", click("U1"), seen=0, status=APPROVED)
    at = T0 + timedelta(minutes=5)

    cancelled = approval_store.revert("a1", APPROVED, 1, ApprovalStatus.CANCELLED, at, "run gone")

    assert (cancelled.status, cancelled.decided_by, cancelled.decided_at) == (
        ApprovalStatus.CANCELLED,
        None,
        at,
    )
    assert (cancelled.decisions, cancelled.reason) == ((click("U1"),), "run gone")
    with pytest.raises(AlreadyDecidedError):  # only the caller's own, unchanged write is reverted
        approval_store.revert("a1", APPROVED, 1, PENDING, at, "again")
    assert approval_store.get("a1") == cancelled


def test_revert_needs_the_count_the_caller_wrote(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    decided = approval_store.add_decision("a1", click("U1"), seen=0, status=APPROVED)
    with pytest.raises(AlreadyDecidedError) as info:
        approval_store.revert("a1", APPROVED, 2, PENDING, T0, "x")
    assert info.value.current == decided
    with pytest.raises(ValueError, match="final status"):
        approval_store.revert("a1", PENDING, 1, ApprovalStatus.EXPIRED, T0, "x")
    with pytest.raises(ApprovalNotFoundError):
        approval_store.revert("missing", APPROVED, 1, PENDING, T0, "x")


def test_decide_records_the_reason(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    expired = approval_store.decide("a1", ApprovalStatus.EXPIRED, None, T0, reason="run ABORTED")
    assert expired.reason == "run ABORTED"
    assert approval_store.get("a1") == expired


def test_list_for_execution_any_status_of_that_model_only(approval_store: ApprovalStore) -> None:
    mine = approval("a1")
    approval_store.put(mine)
    approval_store.put(replace(approval("a2", minutes=5), execution=mine.execution))
    approval_store.put(replace(approval("other-model", model="churn"), execution=mine.execution))
    approval_store.put(approval("other-run"))
    approval_store.decide("a1", ApprovalStatus.SUPERSEDED, None, T0)

    found = approval_store.list_for_execution("iris", mine.execution)

    assert [(a.id, a.status) for a in found] == [("a1", ApprovalStatus.SUPERSEDED), ("a2", PENDING)]
    assert approval_store.list_for_execution("iris", "arn:nothing") == []


def test_new_fields_round_trip(approval_store: ApprovalStore) -> None:
    original = approval(
        author_slack_id="U0AUTHOR",
        author_via="IDENTITY_MAP entry `Dev/alice`",
        git_author="someone@example.com",
        pushed_at=T0 - timedelta(minutes=3),
        required_approvals=3,
    )
    approval_store.put(original)
    assert approval_store.get("a1") == original
