"""DynamoDB conditional writes through the emulator's threaded server decide exactly once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import moto.dynamodb.models as dynamodb_models
import pytest
from botocore.exceptions import ClientError

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional


class _SlowCondition:
    """Widens moto's check-then-write window so concurrent requests surely overlap in it."""

    def __init__(self, parsed: Any) -> None:
        self._parsed = parsed

    def expr(self, item: Any) -> Any:
        time.sleep(0.05)
        return self._parsed.expr(item)


def test_concurrent_conditional_updates_have_one_winner(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = dynamodb_models.create_condition_expression_parser

    def slow_parser(*args: Any, **kwargs: Any) -> Any:
        parser = original(*args, **kwargs)
        parse = parser.parse
        parser.parse = lambda: _SlowCondition(parse())
        return parser

    monkeypatch.setattr(dynamodb_models, "create_condition_expression_parser", slow_parser)
    ddb = emulator.client("dynamodb")
    ddb.create_table(
        TableName="atomic",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "approval"}}
    ddb.put_item(TableName="atomic", Item={**key, "status": {"S": "PENDING"}})
    clients = [emulator.client("dynamodb") for _ in range(6)]

    def decide(client: Any) -> bool:
        try:
            client.update_item(
                TableName="atomic",
                Key=key,
                UpdateExpression="SET #s = :new",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":new": {"S": "APPROVED"}, ":pending": {"S": "PENDING"}},
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    with ThreadPoolExecutor(max_workers=6) as pool:
        winners = sum(pool.map(decide, clients))
    assert winners == 1, f"{winners} concurrent writers passed the same condition"
