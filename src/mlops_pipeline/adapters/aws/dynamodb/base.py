"""What every store shares: the injectable client, consistent reads, and reading a failed condition.

Stores translate DynamoDB's failures into the port errors of ``mlops_pipeline.domain.errors``
(a failed condition becomes "already decided", "locked", "not found"...), so callers never
see botocore types; any other ``ClientError`` is not the port's business and propagates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.codec import unmarshal


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStore:
    """A store on the pipeline table; ``client`` is a boto3 DynamoDB client (default: a new one)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._db = client if client is not None else boto3.client("dynamodb")

    def _read(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The item under ``key`` (consistent read, unmarshalled), or None."""
        item = self._db.get_item(TableName=self.table_name, Key=dict(key), ConsistentRead=True).get("Item")
        return unmarshal(item) if item else None

    def _failed_item(self, exc: ClientError, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The item that failed the condition.

        DynamoDB returns it with the error (ReturnValuesOnConditionCheckFailure=ALL_OLD);
        an emulator that does not gets a consistent read instead.
        """
        item = exc.response.get("Item")
        return unmarshal(item) if item else self._read(key)
