"""DynamoDB specifics against moto: the table and item layout of contracts.md, races decided by
conditional writes, an emulator that does not return the failed item.

What every ApprovalStore/RunStore/LockStore/DeployedStateStore must do, the fakes included,
is the port-contract suite's (tests/functional/ports).
"""

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
)
from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    DeployedState,
    MessageRef,
    RunRecord,
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


# -- locks ---------------------------------------------------------------------------------


def test_lock_item_layout_and_refusal_message(ddb: Any) -> None:
    """The lease as stored (expiry as the fixed-width string the condition compares, ttl = expiry)."""
    locks = DynamoLockStore(TABLE, client=ddb)
    locks.acquire("deploy-prod", "crashed", T0, 60)
    locks.acquire("deploy-prod", "exec-B", T0 + timedelta(seconds=60), 60)  # taken over
    item = raw_item(ddb, "LOCK#deploy-prod", "LOCK")
    assert item["owner"] == {"S": "exec-B"}
    assert item["expires_at"] == {"S": "2026-11-26T05:02:00.123456Z"}
    assert int(item["ttl"]["N"]) >= int((T0 + timedelta(seconds=120)).timestamp())
    with pytest.raises(DeploymentLockedError, match=r"held by exec-B until 2026-11-26T05:02:00\.123456Z"):
        locks.acquire("deploy-prod", "crashed", T0 + timedelta(seconds=61), 60)


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


# -- deployed state ------------------------------------------------------------------------


def test_deployed_state_item_layout(ddb: Any) -> None:
    store = DynamoDeployedStateStore(TABLE, client=ddb)
    state = DeployedState(
        environment="stage",
        commit="abc",
        commit_time=1_764_000_100,
        model="iris",
        version="3",
        execution="exec-1",
        deployed_at=T0,
    )
    store.put(state)
    item = raw_item(ddb, "ENV#stage", "DEPLOYED")
    assert item["commit_time"] == {"N": "1764000100"}
    assert item["deployed_at"] == {"S": "2026-11-26T05:00:00.123456Z"}
    assert "ttl" not in item  # deployed state never expires


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
