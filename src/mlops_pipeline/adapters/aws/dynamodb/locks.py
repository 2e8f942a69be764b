"""LockStore on DynamoDB: a lease per name; free when absent or expired, re-entrant for its owner.

A deploy's intent sits beside its lock (same partition, sort key ``INTENT``): the lock's item
is replaced whenever the lease is renewed or taken, the intent outlives both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import intent_from_item, intent_to_item, lock_to_item, to_iso
from mlops_pipeline.adapters.aws.dynamodb.schema import INTENT_SK, LOCK_SK, key, lock_pk
from mlops_pipeline.domain.errors import DeploymentLockedError
from mlops_pipeline.domain.models import DeployIntent, Lock


def _key(name: str) -> dict[str, Any]:
    return key(lock_pk(name), LOCK_SK)


class DynamoLockStore(DynamoStore):
    """LockStore: a lease per name; free when absent or expired, re-entrant for its owner."""

    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        """Take the lock (re-entrant for the same owner, which renews the lease); DeploymentLockedError if held."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if not owner:
            raise ValueError("a lock needs an owner")
        lock = Lock(name=name, owner=owner, acquired_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
        item = lock_to_item(lock)
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"S": to_iso(now)}, ":owner": {"S": owner}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(name)) or {}
            raise DeploymentLockedError(
                f"lock {name!r} is held by {old.get('owner', 'another owner')} "
                f"until {old.get('expires_at', 'unknown')}"
            ) from None
        return lock

    def release(self, name: str, owner: str) -> bool:
        """Delete the lock if ``owner`` holds it; False otherwise (nothing changes)."""
        try:
            self._db.delete_item(
                TableName=self.table_name,
                Key=_key(name),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def record_intent(self, name: str, intent: DeployIntent) -> None:
        """Store the intent of the deploy under lock ``name`` (one per lock: the last write wins)."""
        self._db.put_item(TableName=self.table_name, Item=intent_to_item(name, intent))

    def intent(self, name: str) -> DeployIntent | None:
        """The last intent recorded under lock ``name``, or None."""
        item = self._read(key(lock_pk(name), INTENT_SK))
        return intent_from_item(item) if item else None
