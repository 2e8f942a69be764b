"""ApprovalStore on DynamoDB: one item per approval; decisions are conditional writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import (
    approval_from_item,
    approval_to_item,
    to_iso,
    unmarshal,
)
from mlops_pipeline.adapters.aws.dynamodb.schema import APPROVAL_SK, GSI1, approval_pk, approvals_gsi_pk, key
from mlops_pipeline.domain.errors import AlreadyDecidedError, ApprovalNotFoundError
from mlops_pipeline.domain.models import Approval, ApprovalStatus, MessageRef

_PENDING = {"S": ApprovalStatus.PENDING.value}


def _key(approval_id: str) -> dict[str, Any]:
    return key(approval_pk(approval_id), APPROVAL_SK)


class DynamoApprovalStore(DynamoStore):
    """ApprovalStore: one item per approval; decisions are conditional writes."""

    def put(self, approval: Approval) -> None:
        """Store a new approval; may replace a still-PENDING one (a retried request), never a decided one."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=approval_to_item(approval),
                ConditionExpression="attribute_not_exists(pk) OR #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": _PENDING},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(approval.id))
            current = approval_from_item(old) if old else None
            status = current.status.value if current else "decided"
            raise AlreadyDecidedError(
                f"approval {approval.id} is already {status}; not overwritten", current=current
            ) from None

    def get(self, approval_id: str) -> Approval | None:
        item = self._read(_key(approval_id))
        return approval_from_item(item) if item else None

    def decide(self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        """Conditional write PENDING -> status; AlreadyDecidedError(current=...) otherwise."""
        status = ApprovalStatus(status)
        if not status.is_final:
            raise ValueError("decide needs a final status (APPROVED, REJECTED, EXPIRED or SUPERSEDED)")
        values: dict[str, Any] = {":pending": _PENDING, ":new": {"S": status.value}, ":at": {"S": to_iso(at)}}
        update = "SET #s = :new, decided_at = :at"
        if by is not None:
            update += ", decided_by = :by"
            values[":by"] = {"S": by}
        else:
            update += " REMOVE decided_by"
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=_key(approval_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(approval_id))
            if old is None:
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}") from None
            current = approval_from_item(old)
            by_text = f" by {current.decided_by}" if current.decided_by else ""
            raise AlreadyDecidedError(
                f"approval {approval_id} is already {current.status.value}{by_text}", current=current
            ) from None
        return approval_from_item(unmarshal(response["Attributes"]))

    def list_pending(self, model_name: str) -> Sequence[Approval]:
        """Pending approvals of a model, oldest first."""
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            FilterExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":pk": {"S": approvals_gsi_pk(model_name)}, ":pending": _PENDING},
            ScanIndexForward=True,
        )
        return [approval_from_item(unmarshal(item)) for page in pages for item in page.get("Items", [])]

    def set_message(self, approval_id: str, ref: MessageRef) -> None:
        """Record where the approval card lives; ApprovalNotFoundError if there is no such approval."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(approval_id),
                UpdateExpression="SET slack_channel = :c, slack_ts = :ts",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": {"S": ref.channel}, ":ts": {"S": ref.ts}},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}") from None
            raise
