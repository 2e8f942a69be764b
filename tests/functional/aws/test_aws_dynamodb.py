"""DynamoDB specifics against moto: the table and item layout of contracts.md, races decided by
conditional writes (the other writer's request lands between ours being decided and sent:
the condition alone refuses the stale writer), an emulator that does not return the failed item.

What every ApprovalStore/RunStore/LockStore/DeployedStateStore must do, the fakes included,
is the port-contract suite's (tests/functional/ports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_moto_env import REGION, TABLE, TOOLING, in_account

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


def just_before(client: Any, operation: str, other_writer: Callable[[], object]) -> None:
    """Run ``other_writer`` once, right before ``client`` sends its next ``operation``.

    The other writer's request reaches DynamoDB after our store decided to write and before
    its write arrives, every time: the race two clicks can run, without threads or timing. A
    store that read first and wrote without a condition would overwrite the other writer.
    """
    ran: list[object] = []

    def interleave(**_: Any) -> None:  # returns None: the request is then sent as usual
        if not ran:
            ran.append(other_writer())

    client.meta.events.register_first(f"before-send.dynamodb.{operation}", interleave)


def second_client(ddb: Any) -> Any:
    """Another client on the same table, as another Lambda has (its hooks are its own)."""
    return in_account(boto3.client("dynamodb", region_name=REGION), TOOLING)


def test_a_click_that_loses_the_race_is_refused_by_the_condition(ddb: Any) -> None:
    mine, theirs = (
        DynamoApprovalStore(TABLE, client=ddb),
        DynamoApprovalStore(TABLE, client=second_client(ddb)),
    )
    mine.put(approval())
    winner: list[Approval] = []
    just_before(
        ddb, "UpdateItem", lambda: winner.append(theirs.decide("a1", ApprovalStatus.REJECTED, "U2", T0))
    )

    with pytest.raises(AlreadyDecidedError) as info:
        mine.decide("a1", ApprovalStatus.APPROVED, "U1", T0 + timedelta(seconds=1))

    assert [w.decided_by for w in winner] == ["U2"]
    assert info.value.current == winner[0]
    assert mine.get("a1") == winner[0]  # the later write changed nothing


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


def test_a_thread_set_first_by_another_report_is_kept(ddb: Any) -> None:
    mine, theirs = DynamoRunStore(TABLE, client=ddb), DynamoRunStore(TABLE, client=second_client(ddb))
    mine.create_if_absent(run())
    just_before(ddb, "UpdateItem", lambda: theirs.set_thread("exec-1", MessageRef("C1", "2.0")))
    assert mine.set_thread("exec-1", MessageRef("C1", "1.0")) is False
    stored = mine.get("exec-1")
    assert stored is not None and stored.slack_thread_ts == "2.0"


def test_a_posted_count_moved_by_another_report_is_not_moved_again(ddb: Any) -> None:
    mine, theirs = DynamoRunStore(TABLE, client=ddb), DynamoRunStore(TABLE, client=second_client(ddb))
    mine.create_if_absent(run())
    mine.record_step("exec-1", StepStatus("Build", "SUCCEEDED", T0))
    just_before(ddb, "UpdateItem", lambda: theirs.mark_posted("exec-1", 0, 1))
    assert mine.mark_posted("exec-1", 0, 1) is False
    stored = mine.get("exec-1")
    assert stored is not None and stored.posted == 1


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


def test_a_lock_taken_by_another_run_in_between_is_refused(ddb: Any) -> None:
    mine, theirs = DynamoLockStore(TABLE, client=ddb), DynamoLockStore(TABLE, client=second_client(ddb))
    just_before(ddb, "PutItem", lambda: theirs.acquire("deploy-stage", "exec-B", T0, 900))
    with pytest.raises(DeploymentLockedError, match="held by exec-B"):
        mine.acquire("deploy-stage", "exec-A", T0, 900)


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
    item = raw_item(ddb, "ENV#stage#iris", "DEPLOYED")
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
