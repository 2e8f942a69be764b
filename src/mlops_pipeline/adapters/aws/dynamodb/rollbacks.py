"""RollbackStore on DynamoDB: one item per successful run's prod rollback offer.

Key ``pk = ROLLBACK#<execution name>``, ``sk = ROLLBACK`` (the functions that touch it may be
limited to ``ROLLBACK#*`` with ``dynamodb:LeadingKeys``). Every status change is a conditional
write on ``status``, so a click, a double click and a CLI call cannot both claim one offer.
The item never expires: it is the audit trail of who rolled prod back and why.

A terminal's identity proof is used once: ``pk = ROLLBACK#proof:<sha256 of its signature>``,
``sk = PROOF`` (``:`` is no character of an execution name, so no offer shares the key; the
same ``ROLLBACK#*`` permission covers it), removed by ``ttl`` once the proof has expired.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import from_iso, to_iso, unmarshal
from mlops_pipeline.adapters.aws.dynamodb.schema import ROLLBACK_SK, TTL_ATTRIBUTE, key, rollback_pk
from mlops_pipeline.domain.errors import AlreadyDecidedError
from mlops_pipeline.domain.prod_rollback import RollbackRequest, RollbackStatus

_TEXT = ("execution", "model", "version", "to_version", "commit", "requested_by", "principal", "via")
_MORE_TEXT = ("reason", "channel", "detail")


PROOF_SK = "PROOF"


def proof_key(digest: str) -> dict[str, Any]:
    return key(rollback_pk(f"proof:{digest}"), PROOF_SK)


def _key(request_id: str) -> dict[str, Any]:
    return key(rollback_pk(request_id), ROLLBACK_SK)


def _time(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    return from_iso(str(value)) if value else None


def _request(item: dict[str, Any]) -> RollbackRequest:
    offered = _time(item, "offered_at")
    assert offered is not None, "a rollback item always has offered_at"
    return RollbackRequest(
        id=str(item["id"]),
        status=RollbackStatus(str(item["status"])),
        offered_at=offered,
        requested_at=_time(item, "requested_at"),
        finished_at=_time(item, "finished_at"),
        **{name: str(item.get(name) or "") for name in (*_TEXT, *_MORE_TEXT)},
    )


def _item(request: RollbackRequest) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(request.id),
        "id": {"S": request.id},
        "status": {"S": request.status.value},
        "offered_at": {"S": to_iso(request.offered_at)},
    }
    for name in (*_TEXT, *_MORE_TEXT):
        value = getattr(request, name)
        if value:
            item[name] = {"S": str(value)}
    for name in ("requested_at", "finished_at"):
        at = getattr(request, name)
        if at is not None:
            item[name] = {"S": to_iso(at)}
    return item


class DynamoRollbackStore(DynamoStore):
    """RollbackStore: a conditional put per offer, conditional updates on ``status``."""

    def offer(self, request: RollbackRequest) -> RollbackRequest:
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=_item(request),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(request.id))
            return _request(old) if old else self.offer(request)
        return request

    def get(self, request_id: str) -> RollbackRequest | None:
        item = self._read(_key(request_id))
        return _request(item) if item else None

    def claim(
        self,
        request_id: str,
        *,
        by: str,
        principal: str,
        via: str,
        reason: str,
        at: datetime,
        channel: str = "",
        to_version: str = "",
    ) -> RollbackRequest:
        values = {
            ":offered": {"S": RollbackStatus.OFFERED.value},
            ":requested": {"S": RollbackStatus.REQUESTED.value},
            ":at": {"S": to_iso(at)},
            ":via": {"S": via},
        }
        sets = ["#s = :requested", "requested_at = :at", "via = :via"]
        for name, value in (
            ("requested_by", by),
            ("principal", principal),
            ("reason", reason),
            ("channel", channel),
            ("to_version", to_version),  # the CLI's --to replaces the offered version
        ):
            if value:  # an empty value leaves the attribute as it was
                values[f":{name}"] = {"S": value}
                sets.append(f"{name} = :{name}")
        return self._update(request_id, "#s = :offered", sets, values)

    def finish(self, request_id: str, status: RollbackStatus, detail: str, at: datetime) -> RollbackRequest:
        values = {
            ":requested": {"S": RollbackStatus.REQUESTED.value},
            ":status": {"S": status.value},
            ":detail": {"S": detail or "-"},
            ":at": {"S": to_iso(at)},
        }
        sets = ["#s = :status", "detail = :detail", "finished_at = :at"]
        if status is RollbackStatus.OFFERED:
            # The offer is given back (the rollback never started): the claim is forgotten.
            sets = ["#s = :status", "detail = :detail"]
            values.pop(":at")
            return self._update(
                request_id,
                "#s = :requested",
                sets,
                values,
                "REMOVE requested_by, principal, requested_at, via",
            )
        return self._update(request_id, "#s = :requested", sets, values)

    def _update(
        self,
        request_id: str,
        condition: str,
        sets: list[str],
        values: dict[str, Any],
        remove: str = "",
    ) -> RollbackRequest:
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=_key(request_id),
                UpdateExpression=f"SET {', '.join(sets)}" + (f" {remove}" if remove else ""),
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(request_id))
            current = _request(old) if old else None
            shown = current.status.value if current else "absent"
            raise AlreadyDecidedError(f"rollback {request_id} is {shown}", current=current) from None
        return _request(unmarshal(response["Attributes"]))

    def use_proof(self, digest: str, at: datetime, expires_at: datetime) -> bool:
        item = {
            **proof_key(digest),
            "used_at": {"S": to_iso(at)},
            TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
        }
        to_iso(expires_at)  # refuses a naive datetime like every store
        try:
            self._db.put_item(
                TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False
        return True
