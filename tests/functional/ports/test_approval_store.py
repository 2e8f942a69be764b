"""ApprovalStore contract: the fake and DynamoApprovalStore (moto) answer alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mlops_pipeline.domain.errors import AlreadyDecidedError, ApprovalNotFoundError
from mlops_pipeline.domain.models import ApprovalStatus, MessageRef
from mlops_pipeline.ports import ApprovalStore

from .samples import T0, approval

pytestmark = pytest.mark.functional

FINAL = (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED, ApprovalStatus.SUPERSEDED)


def test_put_get_round_trip(approval_store: ApprovalStore) -> None:
    original = approval()
    approval_store.put(original)
    assert approval_store.get("a1") == original
    assert approval_store.get("missing") is None


def test_decide_once_then_already_decided_with_current(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    at = T0 + timedelta(minutes=5)

    decided = approval_store.decide("a1", ApprovalStatus.APPROVED, "U123", at)

    assert decided == approval().with_status(ApprovalStatus.APPROVED, "U123", at)
    assert approval_store.get("a1") == decided
    for status in FINAL:
        with pytest.raises(AlreadyDecidedError) as info:
            approval_store.decide("a1", status, "U999", at + timedelta(minutes=1))
        assert info.value.current == decided
    assert approval_store.get("a1") == decided


def test_decide_without_approver(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    expired = approval_store.decide("a1", ApprovalStatus.EXPIRED, None, T0 + timedelta(days=1))
    assert (expired.status, expired.decided_by, expired.decided_at) == (
        ApprovalStatus.EXPIRED,
        None,
        T0 + timedelta(days=1),
    )


def test_decide_unknown_id_is_not_found(approval_store: ApprovalStore) -> None:
    with pytest.raises(ApprovalNotFoundError):
        approval_store.decide("nope", ApprovalStatus.APPROVED, "U1", T0)
    assert approval_store.get("nope") is None


def test_decide_needs_a_final_status(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    with pytest.raises(ValueError, match="final status"):
        approval_store.decide("a1", ApprovalStatus.PENDING, "U1", T0)
    assert approval_store.get("a1") == approval()


def test_put_over_a_decided_approval_is_refused(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    decided = approval_store.decide("a1", ApprovalStatus.REJECTED, "U1", T0)
    with pytest.raises(AlreadyDecidedError) as info:
        approval_store.put(replace(approval(), task_token="token-new"))
    assert info.value.current == decided
    assert approval_store.get("a1") == decided


def test_put_over_a_pending_approval_replaces_it(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    retried = replace(approval(), task_token="token-new")
    approval_store.put(retried)
    assert approval_store.get("a1") == retried


def test_list_pending_only_pending_of_that_model_oldest_first(approval_store: ApprovalStore) -> None:
    for approval_id, model, minutes in [
        ("newer", "iris", 10),
        ("other-model", "churn", 5),
        ("old", "iris", 0),
        ("decided", "iris", 3),
        ("tie-b", "iris", 7),
        ("tie-a", "iris", 7),
    ]:
        approval_store.put(approval(approval_id, model=model, minutes=minutes))
    approval_store.decide("decided", ApprovalStatus.SUPERSEDED, None, T0)

    assert [a.id for a in approval_store.list_pending("iris")] == ["old", "tie-a", "tie-b", "newer"]
    assert [a.id for a in approval_store.list_pending("churn")] == ["other-model"]
    assert approval_store.list_pending("unknown") == []


def test_set_message_any_status_and_unknown_id(approval_store: ApprovalStore) -> None:
    approval_store.put(approval())
    approval_store.set_message("a1", MessageRef("C1", "1700000000.000100"))
    approval_store.decide("a1", ApprovalStatus.APPROVED, "U1", T0)
    approval_store.set_message("a1", MessageRef("C2", "1700000000.000200"))

    stored = approval_store.get("a1")
    assert stored is not None
    assert (stored.status, stored.slack_channel, stored.slack_ts) == (
        ApprovalStatus.APPROVED,
        "C2",
        "1700000000.000200",
    )
    with pytest.raises(ApprovalNotFoundError):
        approval_store.set_message("missing", MessageRef("C1", "1"))
    assert approval_store.get("missing") is None


def test_naive_datetimes_are_refused(approval_store: ApprovalStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        approval_store.put(replace(approval(), requested_at=T0.replace(tzinfo=None)))
    assert approval_store.get("a1") is None
    approval_store.put(approval())
    with pytest.raises(ValueError, match="timezone"):
        approval_store.decide("a1", ApprovalStatus.APPROVED, "U1", T0.replace(tzinfo=None))
    assert approval_store.get("a1") == approval()
