"""RunStore on DynamoDB: one item per execution with its Slack thread and step history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from mlops_pipeline.adapters.aws.dynamodb.base import DynamoStore, is_conditional_failure
from mlops_pipeline.adapters.aws.dynamodb.codec import (
    run_from_item,
    run_to_item,
    serialize,
    step_to_map,
    unmarshal,
)
from mlops_pipeline.adapters.aws.dynamodb.schema import GSI1, RUN_SK, RUNS_GSI_PK, key, run_pk
from mlops_pipeline.domain.errors import RunNotFoundError
from mlops_pipeline.domain.models import MessageRef, RunRecord, StepStatus
from mlops_pipeline.ports import RUN_UPDATE_FIELDS


def _key(execution: str) -> dict[str, Any]:
    return key(run_pk(execution), RUN_SK)


def _not_found(execution: str) -> RunNotFoundError:
    return RunNotFoundError(f"no run record for {execution}")


class DynamoRunStore(DynamoStore):
    """RunStore: one item per execution with its Slack thread and step history."""

    def get(self, execution: str) -> RunRecord | None:
        item = self._read(_key(execution))
        return run_from_item(item) if item else None

    def create_if_absent(self, record: RunRecord) -> RunRecord:
        """Create the record unless it exists; returns the stored record."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=run_to_item(record),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            old = self._failed_item(exc, _key(record.execution))
            if old is None:  # deleted between the two calls; nothing sensible to return
                raise RunNotFoundError(f"run {record.execution} vanished while being created") from None
            return run_from_item(old)
        return record

    def set_thread(self, execution: str, ref: MessageRef) -> bool:
        """Store the Slack thread once; False if another writer set it first."""
        return self._update_if(
            execution,
            UpdateExpression="SET slack_channel = :c, slack_thread_ts = :ts",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(slack_thread_ts)",
            ExpressionAttributeValues={":c": {"S": ref.channel}, ":ts": {"S": ref.ts}},
        )

    def record_step(self, execution: str, step: StepStatus) -> None:
        """Append one step status to the run's history."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(execution),
                UpdateExpression="SET steps = list_append(if_not_exists(steps, :empty), :new)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":new": {"L": [serialize(step_to_map(step))]},
                },
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise _not_found(execution) from None
            raise

    def mark_posted(self, execution: str, seen: int, posted: int) -> bool:
        """Move ``posted`` from ``seen`` to ``posted`` (a record without the count has posted 0)."""
        if not 0 <= seen < posted:
            raise ValueError(f"need 0 <= seen < posted, got seen={seen}, posted={posted}")
        current = "posted = :seen" + (" OR attribute_not_exists(posted)" if seen == 0 else "")
        return self._update_if(
            execution,
            UpdateExpression="SET posted = :posted",
            ConditionExpression=f"attribute_exists(pk) AND ({current})",
            ExpressionAttributeValues={":seen": {"N": str(seen)}, ":posted": {"N": str(posted)}},
        )

    def _update_if(self, execution: str, **params: Any) -> bool:
        """One conditional update of the run's item; False when its condition failed on an
        existing item, RunNotFoundError when there is no item."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(execution),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **params,
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            if self._failed_item(exc, _key(execution)) is None:
                raise _not_found(execution) from None
            return False
        return True

    def update(self, execution: str, **fields: Any) -> None:
        """Set plain fields (status, model, version, commit, repository, branch, author); None removes."""
        unknown = set(fields) - RUN_UPDATE_FIELDS
        if unknown:
            raise ValueError(
                f"cannot update run fields {sorted(unknown)}; allowed: {sorted(RUN_UPDATE_FIELDS)}"
            )
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
        clauses = [
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        ]
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(execution),
            "UpdateExpression": " ".join(c for c in clauses if c),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
        }
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self._db.update_item(**params)
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise _not_found(execution) from None
            raise

    def list_recent(self, limit: int = 20) -> Sequence[RunRecord]:
        """The newest runs first (by start time); runs without a start time are not listed."""
        if limit <= 0:
            return []
        response = self._db.query(
            TableName=self.table_name,
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": RUNS_GSI_PK}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [run_from_item(unmarshal(item)) for item in response.get("Items", [])]
