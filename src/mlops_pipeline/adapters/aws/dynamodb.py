"""DynamoDB adapters: approvals, run records, deployment locks, deployed state.

One table (``docs/contracts.md``): ``pk``/``sk`` primary key, GSI ``gsi1``
(``gsi1pk``/``gsi1sk``, projection ALL), TTL attribute ``ttl`` (epoch seconds).
Every state change that two writers could race on is a conditional write, so the
table, not the caller, decides who wins.

Datetimes are stored as ISO-8601 UTC strings with a fixed width
(``2026-01-02T03:04:05.000006Z``) so that string order is time order; that is what the
GSI sort keys and the lock's expiry condition rely on.

TTL: an approval keeps its audit trail for ``APPROVAL_RETENTION`` (30 days) after it
expires (``ttl = expires_at + 30 days``); a lock's ``ttl`` is its expiry, so DynamoDB
eventually removes locks that a crashed run left (the condition on ``expires_at``
already makes them takeable before that). Run records and deployed state never expire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from mlops_pipeline.domain.errors import (
    AlreadyDecidedError,
    ApprovalNotFoundError,
    DeploymentLockedError,
    RunNotFoundError,
)
from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    DeployedState,
    Lock,
    MessageRef,
    RunRecord,
    StepStatus,
)

GSI1 = "gsi1"
APPROVAL_RETENTION = timedelta(days=30)

_SER = TypeSerializer()
_DESER = TypeDeserializer()


# -- helpers -------------------------------------------------------------------------------


def to_iso(value: datetime) -> str:
    """Fixed-width ISO-8601 UTC; refuses naive datetimes (their zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value!r} has no timezone; pass an aware UTC datetime")
    # isoformat pads the year to four digits (strftime's %Y does not on every platform).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opt_dt(value: Any) -> datetime | None:
    return from_iso(str(value)) if value else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB wire format; attributes whose value is None are left out."""
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


def _unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESER.deserialize(v) for k, v in item.items()}


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _old_item(exc: ClientError, db: Any, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item that failed the condition.

    DynamoDB returns it with the error (ReturnValuesOnConditionCheckFailure=ALL_OLD);
    an emulator that does not gets a consistent read instead.
    """
    item = exc.response.get("Item")
    if not item:
        item = db.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")
    return _unmarshal(item) if item else None


def _client(client: Any | None) -> Any:
    return client if client is not None else boto3.client("dynamodb")


def create_table(client: Any, table_name: str) -> None:
    """Create the pipeline table as ``docs/contracts.md`` defines it (tests, local harness).

    On AWS, Terraform owns the table; this mirrors it for moto.
    """
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


# -- approvals ---------------------------------------------------------------------------


def _approval_key(approval_id: str) -> dict[str, Any]:
    return _marshal({"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL"})


def _approval_to_item(approval: Approval) -> dict[str, Any]:
    requested = to_iso(approval.requested_at)
    return _marshal(
        {
            "pk": f"APPROVAL#{approval.id}",
            "sk": "APPROVAL",
            "gsi1pk": f"APPROVALS#{approval.model}",
            "gsi1sk": f"{requested}#{approval.id}",
            "ttl": int((approval.expires_at + APPROVAL_RETENTION).timestamp()),
            "id": approval.id,
            "task_token": approval.task_token,
            "execution": approval.execution,
            "model": approval.model,
            "version": approval.version,
            "commit": approval.commit,
            "author": approval.author,
            "requested_at": requested,
            "expires_at": to_iso(approval.expires_at),
            "status": approval.status.value,
            "decided_by": approval.decided_by,
            "decided_at": to_iso(approval.decided_at) if approval.decided_at else None,
            "slack_channel": approval.slack_channel,
            "slack_ts": approval.slack_ts,
            # JSON keeps floats and nesting exactly (DynamoDB numbers would need Decimal).
            "details": json.dumps(approval.details, sort_keys=True, default=str),
        }
    )


def _approval_from(item: Mapping[str, Any]) -> Approval:
    return Approval(
        id=str(item["id"]),
        task_token=str(item["task_token"]),
        execution=str(item["execution"]),
        model=str(item["model"]),
        version=str(item["version"]),
        commit=str(item.get("commit", "")),
        author=str(item.get("author", "")),
        requested_at=from_iso(str(item["requested_at"])),
        expires_at=from_iso(str(item["expires_at"])),
        status=ApprovalStatus(str(item["status"])),
        decided_by=_opt_str(item.get("decided_by")),
        decided_at=_opt_dt(item.get("decided_at")),
        slack_channel=_opt_str(item.get("slack_channel")),
        slack_ts=_opt_str(item.get("slack_ts")),
        details=json.loads(str(item["details"])) if item.get("details") else {},
    )


class DynamoApprovalStore:
    """ApprovalStore: one item per approval; decisions are conditional writes."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._db = _client(client)

    def put(self, approval: Approval) -> None:
        """Store a new approval; may replace a still-PENDING one (a retried request), never a decided one."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=_approval_to_item(approval),
                ConditionExpression="attribute_not_exists(pk) OR #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": {"S": ApprovalStatus.PENDING.value}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            old = _old_item(exc, self._db, self.table_name, _approval_key(approval.id))
            current = _approval_from(old) if old else None
            status = current.status.value if current else "decided"
            raise AlreadyDecidedError(
                f"approval {approval.id} is already {status}; not overwritten", current=current
            ) from None

    def get(self, approval_id: str) -> Approval | None:
        response = self._db.get_item(
            TableName=self.table_name, Key=_approval_key(approval_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _approval_from(_unmarshal(item)) if item else None

    def decide(self, approval_id: str, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        """Conditional write PENDING -> status; AlreadyDecidedError(current=...) otherwise."""
        status = ApprovalStatus(status)
        if not status.is_final:
            raise ValueError("decide needs a final status (APPROVED, REJECTED, EXPIRED or SUPERSEDED)")
        values: dict[str, Any] = {
            ":pending": {"S": ApprovalStatus.PENDING.value},
            ":new": {"S": status.value},
            ":at": {"S": to_iso(at)},
        }
        update = "SET #s = :new, decided_at = :at"
        if by is not None:
            update += ", decided_by = :by"
            values[":by"] = {"S": by}
        else:
            update += " REMOVE decided_by"
        try:
            response = self._db.update_item(
                TableName=self.table_name,
                Key=_approval_key(approval_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            old = _old_item(exc, self._db, self.table_name, _approval_key(approval_id))
            if old is None:
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}") from None
            current = _approval_from(old)
            by_text = f" by {current.decided_by}" if current.decided_by else ""
            raise AlreadyDecidedError(
                f"approval {approval_id} is already {current.status.value}{by_text}", current=current
            ) from None
        return _approval_from(_unmarshal(response["Attributes"]))

    def list_pending(self, model_name: str) -> Sequence[Approval]:
        """Pending approvals of a model, oldest first."""
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            FilterExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pk": {"S": f"APPROVALS#{model_name}"},
                ":pending": {"S": ApprovalStatus.PENDING.value},
            },
            ScanIndexForward=True,
        )
        return [_approval_from(_unmarshal(item)) for page in pages for item in page.get("Items", [])]

    def set_message(self, approval_id: str, ref: MessageRef) -> None:
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_approval_key(approval_id),
                UpdateExpression="SET slack_channel = :c, slack_ts = :ts",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": {"S": ref.channel}, ":ts": {"S": ref.ts}},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise ApprovalNotFoundError(f"no approval with id {approval_id!r}") from None
            raise


# -- run records --------------------------------------------------------------------------

_RUN_FIELDS = frozenset({"status", "model", "version", "commit", "repository", "branch", "author"})


def _run_key(execution: str) -> dict[str, Any]:
    return _marshal({"pk": f"RUN#{execution}", "sk": "RUN"})


def _step_to_map(step: StepStatus) -> dict[str, Any]:
    return {"step": step.step, "status": step.status, "at": to_iso(step.at), "detail": step.detail}


def _run_to_item(record: RunRecord) -> dict[str, Any]:
    started = to_iso(record.started_at) if record.started_at else None
    return _marshal(
        {
            "pk": f"RUN#{record.execution}",
            "sk": "RUN",
            # Without a start time the record stays out of the "recent runs" index.
            "gsi1pk": "RUNS" if started else None,
            "gsi1sk": started,
            "execution": record.execution,
            "commit": record.commit,
            "repository": record.repository,
            "branch": record.branch,
            "author": record.author,
            "model": record.model,
            "version": record.version,
            "started_at": started,
            "status": record.status,
            "slack_channel": record.slack_channel,
            "slack_thread_ts": record.slack_thread_ts,
            "steps": [_step_to_map(s) for s in record.steps],
        }
    )


def _run_from(item: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        execution=str(item["execution"]),
        commit=str(item.get("commit", "")),
        repository=str(item.get("repository", "")),
        branch=str(item.get("branch", "")),
        author=str(item.get("author", "")),
        model=_opt_str(item.get("model")),
        version=_opt_str(item.get("version")),
        started_at=_opt_dt(item.get("started_at")),
        status=str(item.get("status", "RUNNING")),
        slack_channel=_opt_str(item.get("slack_channel")),
        slack_thread_ts=_opt_str(item.get("slack_thread_ts")),
        steps=tuple(
            StepStatus(
                step=str(s["step"]),
                status=str(s["status"]),
                at=from_iso(str(s["at"])),
                detail=str(s["detail"]),
            )
            for s in item.get("steps", [])
        ),
    )


class DynamoRunStore:
    """RunStore: one item per execution with its Slack thread and step history."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._db = _client(client)

    def get(self, execution: str) -> RunRecord | None:
        response = self._db.get_item(TableName=self.table_name, Key=_run_key(execution), ConsistentRead=True)
        item = response.get("Item")
        return _run_from(_unmarshal(item)) if item else None

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        """Create the record unless it exists; returns the stored record."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=_run_to_item(record),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            old = _old_item(exc, self._db, self.table_name, _run_key(record.execution))
            stored = _run_from(old) if old else None
            if stored is None:  # deleted between the two calls; nothing sensible to return
                raise RunNotFoundError(f"run {record.execution} vanished while being created") from None
            return stored
        return record

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        """Store the Slack thread once; False if another writer set it first."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_run_key(execution),
                UpdateExpression="SET slack_channel = :c, slack_thread_ts = :ts",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(slack_thread_ts)",
                ExpressionAttributeValues={":c": {"S": ref.channel}, ":ts": {"S": ref.ts}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            if _old_item(exc, self._db, self.table_name, _run_key(execution)) is None:
                raise RunNotFoundError(f"no run record for {execution}") from None
            return False
        return True

    def record_step(self, execution: str, step: StepStatus) -> None:
        """Append one step status to the run's history."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_run_key(execution),
                UpdateExpression="SET steps = list_append(if_not_exists(steps, :empty), :new)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":new": {"L": [_SER.serialize(_step_to_map(step))]},
                },
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise RunNotFoundError(f"no run record for {execution}") from None
            raise

    def update(self, execution: str, **fields: Any) -> None:
        """Set plain fields (status, model, version, commit, repository, branch, author); None removes."""
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}; allowed: {sorted(_RUN_FIELDS)}")
        if not fields:
            return
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = {"S": str(value)}
                sets.append(f"#f{i} = :v{i}")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _run_key(execution),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
        }
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self._db.update_item(**params)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                raise RunNotFoundError(f"no run record for {execution}") from None
            raise

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]:
        """The newest runs first (by start time)."""
        if limit <= 0:
            return []
        response = self._db.query(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "RUNS"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_run_from(_unmarshal(item)) for item in response.get("Items", [])]


# -- locks --------------------------------------------------------------------------------


def _lock_key(name: str) -> dict[str, Any]:
    return _marshal({"pk": f"LOCK#{name}", "sk": "LOCK"})


class DynamoLockStore:
    """LockStore: a lease per name; free when absent or expired, re-entrant for its owner."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._db = _client(client)

    def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
        """Take the lock (re-entrant for the same owner, which renews the lease); DeploymentLockedError if held."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if not owner:
            raise ValueError("a lock needs an owner")
        expires = now + timedelta(seconds=ttl_seconds)
        lock = Lock(name=name, owner=owner, acquired_at=now, expires_at=expires)
        item = _marshal(
            {
                "pk": f"LOCK#{name}",
                "sk": "LOCK",
                "name": name,
                "owner": owner,
                "acquired_at": to_iso(now),
                "expires_at": to_iso(expires),
                "ttl": int(expires.timestamp()) + 1,
            }
        )
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
            if not _is_conditional_failure(exc):
                raise
            old = _old_item(exc, self._db, self.table_name, _lock_key(name)) or {}
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
                Key=_lock_key(name),
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True


# -- deployed state -----------------------------------------------------------------------


class DynamoDeployedStateStore:
    """DeployedStateStore: what each environment runs now."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._db = _client(client)

    def get(self, environment: str) -> DeployedState | None:
        response = self._db.get_item(
            TableName=self.table_name,
            Key=_marshal({"pk": f"ENV#{environment}", "sk": "DEPLOYED"}),
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if not raw:
            return None
        item = _unmarshal(raw)
        return DeployedState(
            environment=str(item["environment"]),
            commit=str(item["commit"]),
            commit_time=int(item["commit_time"]),
            model=str(item["model"]),
            version=str(item["version"]),
            execution=str(item["execution"]),
            deployed_at=from_iso(str(item["deployed_at"])),
        )

    def put(self, state: DeployedState) -> None:
        self._db.put_item(
            TableName=self.table_name,
            Item=_marshal(
                {
                    "pk": f"ENV#{state.environment}",
                    "sk": "DEPLOYED",
                    "environment": state.environment,
                    "commit": state.commit,
                    "commit_time": int(state.commit_time),
                    "model": state.model,
                    "version": state.version,
                    "execution": state.execution,
                    "deployed_at": to_iso(state.deployed_at),
                }
            ),
        )
