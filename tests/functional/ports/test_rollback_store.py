"""RollbackStore contract, on the fake and on DynamoDB (moto): offer once, claim once, finish once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_pipeline.adapters.aws.dynamodb import DynamoRollbackStore
from mlops_pipeline.domain.errors import AlreadyDecidedError
from mlops_pipeline.domain.prod_rollback import RollbackRequest, RollbackStatus, make_offer
from mlops_pipeline.ports import RollbackStore
from tests.fakes import FakeRollbackStore

from .backends import TABLE
from .conftest import STORES

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-7"


@pytest.fixture(params=STORES)
def rollback_store(request: pytest.FixtureRequest) -> RollbackStore:
    if request.param == "fake":
        return FakeRollbackStore()
    return DynamoRollbackStore(TABLE, client=request.getfixturevalue("ddb"))


def offer() -> RollbackRequest:
    made = make_offer(EXECUTION, "ships", "6", "b" * 40, "5", AT)
    assert made is not None
    return made


def claim(store: RollbackStore, by: str = "UAPPROVER", **kw: str) -> RollbackRequest:
    return store.claim("run-7", by=by, principal="", via="slack", reason="bad", at=AT, channel="CPIPE", **kw)


def test_an_offer_is_stored_once(rollback_store: RollbackStore) -> None:
    assert rollback_store.get("run-7") is None
    assert rollback_store.offer(offer()) == offer()
    claim(rollback_store)
    again = rollback_store.offer(offer())  # a retried report: the claimed record stands
    assert again.status is RollbackStatus.REQUESTED
    assert rollback_store.get("run-7") == again


def test_claim_once_then_finish_once(rollback_store: RollbackStore) -> None:
    rollback_store.offer(offer())
    claimed = claim(rollback_store, to_version="4")
    assert (claimed.status, claimed.requested_by, claimed.via, claimed.reason) == (
        RollbackStatus.REQUESTED,
        "UAPPROVER",
        "slack",
        "bad",
    )
    assert (claimed.requested_at, claimed.channel, claimed.to_version) == (AT, "CPIPE", "4")
    assert rollback_store.get("run-7") == claimed
    with pytest.raises(AlreadyDecidedError) as second:
        claim(rollback_store, by="USOMEONE")
    assert (
        isinstance(second.value.current, RollbackRequest) and second.value.current.requested_by == "UAPPROVER"
    )
    done = rollback_store.finish("run-7", RollbackStatus.DONE, "live back to v2", AT)
    assert (done.status, done.detail, done.finished_at) == (RollbackStatus.DONE, "live back to v2", AT)
    with pytest.raises(AlreadyDecidedError):
        rollback_store.finish("run-7", RollbackStatus.FAILED, "again", AT)
    assert rollback_store.get("run-7") == done


def test_an_unknown_request_cannot_be_claimed(rollback_store: RollbackStore) -> None:
    with pytest.raises(AlreadyDecidedError) as refused:
        claim(rollback_store)
    assert refused.value.current is None


def test_giving_the_offer_back_forgets_the_claim(rollback_store: RollbackStore) -> None:
    rollback_store.offer(offer())
    claim(rollback_store)
    back = rollback_store.finish("run-7", RollbackStatus.OFFERED, "could not start", AT)
    assert (back.status, back.requested_by, back.requested_at) == (RollbackStatus.OFFERED, "", None)
    assert claim(rollback_store, by="UOTHER").requested_by == "UOTHER"


def test_an_identity_proof_is_used_once(rollback_store: RollbackStore) -> None:
    later = AT + timedelta(minutes=20)
    assert rollback_store.use_proof("ab" * 32, AT, later) is True
    assert rollback_store.use_proof("ab" * 32, AT, later) is False  # a replay
    assert rollback_store.use_proof("cd" * 32, AT, later) is True
    assert rollback_store.get("proof:" + "ab" * 32) is None  # no offer shares its key
    with pytest.raises(ValueError, match="timezone"):
        rollback_store.use_proof("ef" * 32, AT.replace(tzinfo=None), later)
