"""ApprovalStore on DynamoDB: one item per approval; decisions are conditional writes.

The clicks that count are a list attribute ``decisions`` (maps of user, action, time). A new
decision is appended with ``list_append`` on the condition that the list still has the length
the caller read (``size(decisions) = :seen``) and the status is still PENDING, in the same
write that sets the final status when the quorum is reached: two concurrent clicks can neither
both count nor lose one; the loser reads again and retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import (
    approval_from_item,
    approval_to_item,
    decision_to_map,
    serialize,
    to_iso,
    unmarshal,
)
from mlops_pipeline.adapters.aws.dynamodb.schema import APPROVAL_SK, GSI1, approval_pk, approvals_gsi_pk, key
from mlops_pipeline.domain.errors import AlreadyDecidedError, ApprovalNotFoundError, DecisionConflictError
from mlops_pipeline.domain.models import Approval, ApprovalStatus, Decision, MessageRef

_PENDING = {"S": ApprovalStatus.PENDING.value}


def _key(approval_id: str) -> dict[str, Any]:
    return key(approval_pk(approval_id), APPROVAL_SK)


def _seen_condition(seen: int) -> str:
    """``decisions`` has exactly ``seen`` entries (records from before the list count as empty)."""
    if seen == 0:
        return "(attribute_not_exists(decisions) OR size(decisions) = :seen)"
    return "size(decisions) = :seen"


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

    def decide(
        self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime, reason: str = ""
    ) -> Approval:
        """Conditional write PENDING -> status; AlreadyDecidedError(current=...) otherwise."""
        status = ApprovalStatus(status)
        if not status.is_final:
            raise ValueError("decide needs a final status (APPROVED, REJECTED, EXPIRED or SUPERSEDED)")
        values: dict[str, Any] = {
            ":pending": _PENDING,
            ":new": {"S": status.value},
            ":at": {"S": to_iso(at)},
            ":reason": {"S": reason},
        }
        update = "SET #s = :new, decided_at = :at, #r = :reason"
        if by is not None:
            update += ", decided_by = :by"
            values[":by"] = {"S": by}
        else:
            update += " REMOVE decided_by"
        return self._update(
            approval_id,
            update,
            "attribute_exists(pk) AND #s = :pending",
            {"#s": "status", "#r": "reason"},
            values,
        )

    def add_decision(
        self, approval_id: str, decision: Decision, seen: int, status: ApprovalStatus | None = None
    ) -> Approval:
        """Append a decision if still PENDING with ``seen`` decisions; optionally decide in the same write."""
        if status is not None and not ApprovalStatus(status).is_final:
            raise ValueError("add_decision decides only with a final status")
        if seen < 0:
            raise ValueError("seen must not be negative")
        values: dict[str, Any] = {
            ":pending": _PENDING,
            ":entry": {"L": [serialize(decision_to_map(decision))]},
            ":empty": {"L": []},
            ":seen": {"N": str(seen)},
        }
        update = "SET decisions = list_append(if_not_exists(decisions, :empty), :entry)"
        if status is not None:
            update += ", #s = :new, decided_at = :at, decided_by = :by"
            values.update(
                {
                    ":new": {"S": ApprovalStatus(status).value},
                    ":at": {"S": to_iso(decision.at)},
                    ":by": {"S": decision.user},
                }
            )
        return self._update(
            approval_id,
            update,
            f"attribute_exists(pk) AND #s = :pending AND {_seen_condition(seen)}",
            {"#s": "status"},
            values,
            conflict_when_pending=True,
        )

    def revert(
        self,
        approval_id: str,
        expected: ApprovalStatus,
        seen: int,
        status: ApprovalStatus,
        at: datetime,
        reason: str,
    ) -> Approval:
        """Undo an undelivered decision (``expected`` with ``seen`` decisions) to ``status``."""
        expected, status = ApprovalStatus(expected), ApprovalStatus(status)
        if not expected.is_final or expected is status:
            raise ValueError("revert goes from a final status to PENDING or another final status")
        to_iso(at)  # refuses a naive datetime before anything is written
        values: dict[str, Any] = {
            ":expected": {"S": expected.value},
            ":new": {"S": status.value},
            ":reason": {"S": reason},
            ":seen": {"N": str(seen)},
        }
        if status is ApprovalStatus.PENDING:
            # The run still waits: the undelivered click is dropped (the index is the caller's own).
            drop = f", decisions[{seen - 1}]" if seen > 0 else ""
            update = f"SET #s = :new, #r = :reason REMOVE decided_by, decided_at{drop}"
        else:
            update = "SET #s = :new, #r = :reason, decided_at = :at REMOVE decided_by"
            values[":at"] = {"S": to_iso(at)}
        return self._update(
            approval_id,
            update,
            f"attribute_exists(pk) AND #s = :expected AND {_seen_condition(seen)}",
            {"#s": "status", "#r": "reason"},
            values,
        )

    def _update(
        self,
        approval_id: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        conflict_when_pending: bool = False,
    ) -> Approval:
        """One conditional update; a failed condition becomes the port's error."""
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=_key(approval_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
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
            if conflict_when_pending and current.status is ApprovalStatus.PENDING:
                raise DecisionConflictError(
                    f"approval {approval_id} has {len(current.decisions)} decisions now", current=current
                ) from None
            by_text = f" by {current.decided_by}" if current.decided_by else ""
            raise AlreadyDecidedError(
                f"approval {approval_id} is {current.status.value}{by_text}", current=current
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

    def list_for_execution(self, model_name: str, execution: str) -> Sequence[Approval]:
        """Every approval of a model requested by one execution, oldest first."""
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            FilterExpression="#e = :e",
            ExpressionAttributeNames={"#e": "execution"},
            ExpressionAttributeValues={":pk": {"S": approvals_gsi_pk(model_name)}, ":e": {"S": execution}},
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
