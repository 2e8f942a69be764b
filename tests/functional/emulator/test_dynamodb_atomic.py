"""DynamoDB conditional writes through the emulator's threaded server.

Two separate facts, each shown on its own: a writer whose read went stale is refused by its
condition (what "decide exactly once" rests on, whatever the server's threading), and two
concurrent requests never both pass one condition (DynamoDB checks and writes as one step;
moto does it in two, and the emulator's DynamoDB write lock joins them). The last test shows
moto without that lock letting two writers through, so the lock test measures something.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import moto.dynamodb.models as dynamodb_models
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

PENDING = {":pending": {"S": "PENDING"}}


@pytest.fixture
def table(emulator: Emulator) -> Callable[[str], dict[str, Any]]:
    """``table(pk)``: a PENDING item in a fresh table; returns its key."""
    ddb = emulator.client("dynamodb")
    name = f"atomic-{time.monotonic_ns()}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def item(pk: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}}
        ddb.put_item(TableName=name, Item={**key, "status": {"S": "PENDING"}})
        return {"TableName": name, "Key": key}

    return item


def decide(client: Any, where: dict[str, Any], status: str, condition: bool = True) -> bool:
    """PENDING -> ``status``, conditional unless told; False if the condition refused it."""
    params: dict[str, Any] = {
        **where,
        "UpdateExpression": "SET #s = :new",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":new": {"S": status}},
    }
    if condition:
        params["ConditionExpression"] = "#s = :pending"
        params["ExpressionAttributeValues"].update(PENDING)
    try:
        client.update_item(**params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def status(client: Any, where: dict[str, Any]) -> str:
    return str(client.get_item(**where, ConsistentRead=True)["Item"]["status"]["S"])


def test_a_writer_whose_read_is_stale_is_refused_by_its_condition(
    emulator: Emulator, table: Callable[[str], dict[str, Any]]
) -> None:
    mine, theirs = emulator.client("dynamodb"), emulator.client("dynamodb")
    approval = table("approval")
    assert status(mine, approval) == "PENDING"  # I read PENDING, and decide to approve...
    assert decide(theirs, approval, "REJECTED") is True  # ...another click writes first...
    assert decide(mine, approval, "APPROVED") is False  # ...and my write is refused
    assert status(mine, approval) == "REJECTED"
    # The same sequence without the condition overwrites: the condition is what refused.
    unguarded = table("unguarded")
    assert decide(theirs, unguarded, "REJECTED", condition=False) is True
    assert decide(mine, unguarded, "APPROVED", condition=False) is True
    assert status(mine, unguarded) == "APPROVED"


class _GatedCondition:
    """Holds each request between moto's condition check and its write until ``gate`` returns."""

    def __init__(self, parsed: Any, gate: Callable[[], None]) -> None:
        self._parsed, self._gate = parsed, gate

    def expr(self, item: Any) -> Any:
        passed = self._parsed.expr(item)
        self._gate()
        return passed


def _gate_conditions(monkeypatch: pytest.MonkeyPatch, gate: Callable[[], None]) -> None:
    original = dynamodb_models.create_condition_expression_parser

    def gated_parser(*args: Any, **kwargs: Any) -> Any:
        parser = original(*args, **kwargs)
        parse = parser.parse
        parser.parse = lambda: _GatedCondition(parse(), gate)
        return parser

    monkeypatch.setattr(dynamodb_models, "create_condition_expression_parser", gated_parser)


def _race(emulator: Emulator, where: dict[str, Any], writers: int) -> int:
    clients = [emulator.client("dynamodb") for _ in range(writers)]
    statuses = ["APPROVED" if i % 2 == 0 else "REJECTED" for i in range(writers)]
    with ThreadPoolExecutor(max_workers=writers) as pool:
        return sum(pool.map(lambda c, s: decide(c, where, s), clients, statuses))


def test_concurrent_conditional_updates_have_one_winner(
    emulator: Emulator, table: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate_conditions(monkeypatch, lambda: time.sleep(0.05))  # widen the check-then-write window
    assert _race(emulator, table("approval"), writers=6) == 1


def test_without_the_emulators_write_lock_two_writers_pass_one_condition(
    emulator: Emulator, table: Callable[[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto alone: both requests check the condition (both see PENDING) before either writes
    (a barrier holds them there), and both write. This is the gap the emulator's lock closes."""
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        locked = getattr(DynamoDBBackend, name)
        monkeypatch.setattr(DynamoDBBackend, name, locked.__wrapped__)
    both_inside = threading.Barrier(2, timeout=10)
    _gate_conditions(monkeypatch, both_inside.wait)
    assert _race(emulator, table("approval"), writers=2) == 2
