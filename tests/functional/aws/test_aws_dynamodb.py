"""DynamoDB stores against moto: conditional writes decide races, schema as in contracts.md."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_moto_env import TABLE

from mlops_pipeline.adapters.aws.dynamodb import (
    APPROVAL_RETENTION,
    DynamoApprovalStore,
    DynamoDeployedStateStore,
    DynamoLockStore,
    DynamoRunStore,
)
from mlops_pipeline.domain.errors import (
    AlreadyDecidedError,
    ApprovalNotFoundError,
    DeploymentLockedError,
    RunNotFoundError,
)
from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    DeployedState,
    MessageRef,
    RunRecord,
    StepStatus,
)

pytestmark = pytest.mark.functional

T0 = datetime(2026, 11, 26, 5, 0, 0, 123456, tzinfo=UTC)


def approval(approval_id: str = "a1", model: str = "iris", minutes: int = 0, **kw: Any) -> Approval:
    requested = T0 + timedelta(minutes=minutes)
    return Approval(
        id=approval_id,
        task_token=f"token-{approval_id}",
        execution=f"arn:aws:states:us-east-1:111111111111:execution:p:{approval_id}",
        model=model,
        version="3",
        commit="abc123",
        author="ds@example.com",
        requested_at=requested,
        expires_at=requested + timedelta(days=1),
        details={"metrics": {"rmse": 0.25, "champion": None}, "smoke": {"latency_ms": 12.5}},
        **kw,
    )


def raw_item(ddb: Any, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
    return item


# -- table ---------------------------------------------------------------------------------


def test_table_matches_the_contract(ddb: Any) -> None:
    table = ddb.describe_table(TableName=TABLE)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert {k["AttributeName"]: k["KeyType"] for k in gsi["KeySchema"]} == {
        "gsi1pk": "HASH",
        "gsi1sk": "RANGE",
    }
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl"
    assert ttl["TimeToLiveStatus"] == "ENABLED"


# -- approvals -----------------------------------------------------------------------------


def test_approval_roundtrip_and_item_layout(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    original = approval()
    store.put(original)

    assert store.get("a1") == original
    assert store.get("missing") is None
    item = raw_item(ddb, "APPROVAL#a1", "APPROVAL")
    assert item["gsi1pk"] == {"S": "APPROVALS#iris"}
    assert item["gsi1sk"] == {"S": "2026-11-26T05:00:00.123456Z#a1"}
    assert int(item["ttl"]["N"]) == int((original.expires_at + APPROVAL_RETENTION).timestamp())
    assert item["requested_at"] == {"S": "2026-11-26T05:00:00.123456Z"}


def test_decide_once_and_final(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    at = T0 + timedelta(minutes=5)

    decided = store.decide("a1", ApprovalStatus.APPROVED, "U123", at)

    assert decided.status is ApprovalStatus.APPROVED
    assert (decided.decided_by, decided.decided_at) == ("U123", at)
    assert store.get("a1") == decided
    for status in (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED, ApprovalStatus.SUPERSEDED):
        with pytest.raises(AlreadyDecidedError, match="already APPROVED by U123") as info:
            store.decide("a1", status, "U999", at + timedelta(minutes=1))
        assert info.value.current == decided
    assert store.get("a1") == decided


def test_decided_approval_cannot_be_overwritten_by_put(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    decided = store.decide("a1", ApprovalStatus.REJECTED, "U1", T0)
    with pytest.raises(AlreadyDecidedError) as info:
        store.put(approval())
    assert info.value.current == decided
    assert store.get("a1") == decided


def test_pending_approval_may_be_replaced_by_a_retried_request(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    retried = replace(approval(), task_token="token-new")
    store.put(retried)
    assert store.get("a1") == retried


def test_decide_without_approver_for_expiry(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    expired = store.decide("a1", ApprovalStatus.EXPIRED, None, T0 + timedelta(days=1))
    assert expired.status is ApprovalStatus.EXPIRED
    assert expired.decided_by is None


def test_decide_unknown_id(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    with pytest.raises(ApprovalNotFoundError, match="nope"):
        store.decide("nope", ApprovalStatus.APPROVED, "U1", T0)
    assert store.get("nope") is None  # the failed write created nothing


def test_decide_needs_a_final_status(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    with pytest.raises(ValueError, match="final status"):
        store.decide("a1", ApprovalStatus.PENDING, "U1", T0)
    assert store.get("a1") == approval()


def test_concurrent_clicks_produce_exactly_one_decision(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    barrier = threading.Barrier(10)
    wins: list[Approval] = []
    losses: list[AlreadyDecidedError] = []
    others: list[BaseException] = []

    def click(i: int) -> None:
        status = ApprovalStatus.APPROVED if i % 2 == 0 else ApprovalStatus.REJECTED
        barrier.wait()
        try:
            wins.append(store.decide("a1", status, f"U{i}", T0 + timedelta(seconds=i)))
        except AlreadyDecidedError as exc:
            losses.append(exc)
        except BaseException as exc:
            others.append(exc)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert others == []
    assert len(wins) == 1
    assert len(losses) == 9
    (winner,) = wins
    assert store.get("a1") == winner
    assert all(loss.current == winner for loss in losses)


def test_list_pending_and_supersede(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval("old", minutes=0))
    store.put(approval("newer", minutes=10))
    store.put(approval("other-model", model="churn", minutes=5))
    store.put(approval("decided", minutes=3))
    store.decide("decided", ApprovalStatus.REJECTED, "U1", T0)

    assert [a.id for a in store.list_pending("iris")] == ["old", "newer"]

    # A new request supersedes every older pending approval of the same model.
    store.put(approval("newest", minutes=20))
    for older in store.list_pending("iris"):
        if older.id != "newest":
            store.decide(older.id, ApprovalStatus.SUPERSEDED, None, T0 + timedelta(minutes=20))

    assert [a.id for a in store.list_pending("iris")] == ["newest"]
    assert [a.id for a in store.list_pending("churn")] == ["other-model"]
    superseded = store.get("old")
    assert superseded is not None
    assert superseded.status is ApprovalStatus.SUPERSEDED


def test_set_message(ddb: Any) -> None:
    store = DynamoApprovalStore(TABLE, client=ddb)
    store.put(approval())
    store.set_message("a1", MessageRef("C1", "1700000000.000100"))
    stored = store.get("a1")
    assert stored is not None
    assert (stored.slack_channel, stored.slack_ts) == ("C1", "1700000000.000100")
    with pytest.raises(ApprovalNotFoundError):
        store.set_message("missing", MessageRef("C1", "1"))
    assert store.get("missing") is None


# -- run records ---------------------------------------------------------------------------


def run(execution: str = "exec-1", minutes: int = 0) -> RunRecord:
    return RunRecord(
        execution=execution,
        commit="abc",
        repository="models",
        branch="main",
        author="ds@example.com",
        started_at=T0 + timedelta(minutes=minutes),
    )


def test_run_create_if_absent_returns_the_stored_record(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    first = runs.create_if_absent(run())
    again = runs.create_if_absent(replace(run(), commit="other"))
    assert first == run()
    assert again == run()
    assert runs.get("exec-1") == run()
    assert runs.get("missing") is None


def test_thread_is_set_once(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    runs.create_if_absent(run())
    assert runs.set_thread("exec-1", MessageRef("C1", "111.1")) is True
    assert runs.set_thread("exec-1", MessageRef("C2", "222.2")) is False
    stored = runs.get("exec-1")
    assert stored is not None
    assert (stored.slack_channel, stored.slack_thread_ts) == ("C1", "111.1")
    with pytest.raises(RunNotFoundError):
        runs.set_thread("missing", MessageRef("C1", "1"))


def test_concurrent_thread_setters_one_wins(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    runs.create_if_absent(run())
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def set_it(i: int) -> None:
        barrier.wait()
        results.append(runs.set_thread("exec-1", MessageRef("C1", f"{i}.0")))

    threads = [threading.Thread(target=set_it, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 5 + [True]


def test_steps_append_in_order_and_fields_update(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    runs.create_if_absent(run())
    s1 = StepStatus("Build", "STARTED", T0)
    s2 = StepStatus("Build", "SUCCEEDED", T0 + timedelta(minutes=3), detail="model iris v3")
    runs.record_step("exec-1", s1)
    runs.record_step("exec-1", s2)
    runs.update("exec-1", status="SUCCEEDED", model="iris", version="3")

    stored = runs.get("exec-1")
    assert stored is not None
    assert stored.steps == (s1, s2)
    assert (stored.status, stored.model, stored.version) == ("SUCCEEDED", "iris", "3")

    runs.update("exec-1", version=None)
    stored = runs.get("exec-1")
    assert stored is not None
    assert stored.version is None


def test_run_update_refuses_unknown_fields_and_runs(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    runs.create_if_absent(run())
    with pytest.raises(ValueError, match="steps"):
        runs.update("exec-1", status="FAILED", steps=())
    assert runs.get("exec-1") == run()  # nothing changed
    with pytest.raises(RunNotFoundError):
        runs.update("missing", status="FAILED")
    with pytest.raises(RunNotFoundError):
        runs.record_step("missing", StepStatus("Build", "STARTED", T0))
    assert runs.get("missing") is None


def test_list_recent_newest_first(ddb: Any) -> None:
    runs = DynamoRunStore(TABLE, client=ddb)
    for i in (2, 0, 3, 1):
        runs.create_if_absent(run(f"exec-{i}", minutes=i))
    assert [r.execution for r in runs.list_recent()] == ["exec-3", "exec-2", "exec-1", "exec-0"]
    assert [r.execution for r in runs.list_recent(limit=2)] == ["exec-3", "exec-2"]
    assert runs.list_recent(limit=0) == []


# -- locks ---------------------------------------------------------------------------------


def test_lock_contention_reentrancy_and_release(ddb: Any) -> None:
    locks = DynamoLockStore(TABLE, client=ddb)
    held = locks.acquire("deploy-stage", "exec-A", T0, 900)
    assert (held.owner, held.expires_at) == ("exec-A", T0 + timedelta(seconds=900))

    with pytest.raises(DeploymentLockedError, match=r"held by exec-A until 2026-11-26T05:15:00\.123456Z"):
        locks.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=60), 900)

    # Re-entrant for the owner, which renews the lease.
    renewed = locks.acquire("deploy-stage", "exec-A", T0 + timedelta(seconds=60), 900)
    assert renewed.expires_at == T0 + timedelta(seconds=960)

    # Other names are independent.
    assert locks.acquire("deploy-prod", "exec-B", T0, 900).owner == "exec-B"

    assert locks.release("deploy-stage", "exec-B") is False
    with pytest.raises(DeploymentLockedError):
        locks.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=120), 900)
    assert locks.release("deploy-stage", "exec-A") is True
    assert locks.release("deploy-stage", "exec-A") is False
    assert locks.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=120), 900).owner == "exec-B"


def test_expired_lock_can_be_taken_over(ddb: Any) -> None:
    locks = DynamoLockStore(TABLE, client=ddb)
    locks.acquire("deploy-prod", "crashed", T0, 60)
    with pytest.raises(DeploymentLockedError):
        locks.acquire("deploy-prod", "exec-B", T0 + timedelta(seconds=59), 60)
    taken = locks.acquire("deploy-prod", "exec-B", T0 + timedelta(seconds=60), 60)
    assert taken.owner == "exec-B"
    assert locks.release("deploy-prod", "crashed") is False
    item = raw_item(ddb, "LOCK#deploy-prod", "LOCK")
    assert item["owner"] == {"S": "exec-B"}
    assert int(item["ttl"]["N"]) >= int((T0 + timedelta(seconds=120)).timestamp())


def test_lock_acquired_by_exactly_one_of_many(ddb: Any) -> None:
    locks = DynamoLockStore(TABLE, client=ddb)
    barrier = threading.Barrier(8)
    owners: list[str] = []
    refused: list[str] = []

    def take(i: int) -> None:
        barrier.wait()
        try:
            owners.append(locks.acquire("deploy-stage", f"exec-{i}", T0, 900).owner)
        except DeploymentLockedError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(owners) == 1
    assert len(refused) == 7
    assert all(owners[0] in message for message in refused)


def test_lock_arguments_are_checked(ddb: Any) -> None:
    locks = DynamoLockStore(TABLE, client=ddb)
    with pytest.raises(ValueError, match="positive"):
        locks.acquire("x", "me", T0, 0)
    with pytest.raises(ValueError, match="no timezone"):
        locks.acquire("x", "me", T0.replace(tzinfo=None), 10)
    assert locks.release("x", "me") is False


# -- deployed state ------------------------------------------------------------------------


def test_deployed_state_roundtrip(ddb: Any) -> None:
    store = DynamoDeployedStateStore(TABLE, client=ddb)
    assert store.get("stage") is None
    state = DeployedState(
        environment="stage",
        commit="abc",
        commit_time=1_764_000_000,
        model="iris",
        version="3",
        execution="exec-1",
        deployed_at=T0,
    )
    store.put(state)
    assert store.get("stage") == state
    assert store.get("prod") is None
    newer = replace(state, commit="def", commit_time=1_764_000_100, version="4")
    store.put(newer)
    assert store.get("stage") == newer
    assert raw_item(ddb, "ENV#stage", "DEPLOYED")["commit_time"] == {"N": "1764000100"}


def test_works_when_the_service_does_not_return_the_failed_item(ddb: Any) -> None:
    """An emulator without ReturnValuesOnConditionCheckFailure: the stores read the item instead."""
    stripped: list[str] = []

    def strip_item(parsed: dict[str, Any], **_: Any) -> None:
        if "Error" in parsed and parsed.pop("Item", None) is not None:
            stripped.append(parsed["Error"]["Code"])

    for operation in ("UpdateItem", "PutItem"):
        ddb.meta.events.register(f"after-call.dynamodb.{operation}", strip_item)

    approvals = DynamoApprovalStore(TABLE, client=ddb)
    approvals.put(approval())
    decided = approvals.decide("a1", ApprovalStatus.APPROVED, "U1", T0)
    with pytest.raises(AlreadyDecidedError) as info:
        approvals.decide("a1", ApprovalStatus.REJECTED, "U2", T0)
    assert info.value.current == decided
    with pytest.raises(ApprovalNotFoundError):
        approvals.decide("missing", ApprovalStatus.APPROVED, "U1", T0)

    locks = DynamoLockStore(TABLE, client=ddb)
    locks.acquire("deploy-stage", "exec-A", T0, 900)
    with pytest.raises(DeploymentLockedError, match="held by exec-A"):
        locks.acquire("deploy-stage", "exec-B", T0, 900)

    runs = DynamoRunStore(TABLE, client=ddb)
    runs.create_if_absent(run())
    assert runs.create_if_absent(replace(run(), commit="other")) == run()
    assert stripped, "the hook never saw a failed conditional write"
