"""DeliveryStore on DynamoDB: the git webhook's idempotency record, one item per push.

Key ``pk = WEBHOOK#<Push.key>``, ``sk = DELIVERY`` (the webhook function's role may touch
``WEBHOOK#*`` only: ``dynamodb:LeadingKeys``); ``ttl`` removes it once a redelivery can no
longer come (``WEBHOOK_MAX_AGE_SECONDS`` and a day).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import from_iso, to_iso
from mlops_pipeline.adapters.aws.dynamodb.schema import TTL_ATTRIBUTE, key
from mlops_pipeline.domain.webhook import Delivery

DELIVERY_SK = "DELIVERY"


def delivery_pk(push_key: str) -> str:
    return f"WEBHOOK#{push_key}"


def _key(push_key: str) -> dict[str, Any]:
    return key(delivery_pk(push_key), DELIVERY_SK)


def _delivery(push_key: str, item: dict[str, Any]) -> Delivery:
    return Delivery(
        key=push_key,
        delivery_id=str(item["delivery_id"]),
        received_at=from_iso(str(item["received_at"])),
        execution=str(item.get("execution") or ""),
    )


class DynamoDeliveryStore(DynamoStore):
    """DeliveryStore: a conditional put per push, then the execution it started."""

    def claim(self, key: str, delivery_id: str, received_at: datetime, expires_at: datetime) -> Delivery:
        item = {
            **_key(key),
            "delivery_id": {"S": delivery_id},
            "received_at": {"S": to_iso(received_at)},
            TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
        }
        to_iso(expires_at)  # refuses a naive datetime like every store
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(key))
            if old is None:  # expired and removed in between: the caller may claim again
                return self.claim(key, delivery_id, received_at, expires_at)
            return _delivery(key, old)
        return Delivery(key, delivery_id, received_at)

    def mark_started(self, key: str, execution: str) -> None:
        self._db.update_item(
            TableName=self.table_name,
            Key=_key(key),
            UpdateExpression="SET execution = :e",
            ExpressionAttributeValues={":e": {"S": execution}},
        )
