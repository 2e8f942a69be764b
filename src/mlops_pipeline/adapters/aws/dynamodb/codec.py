"""Item <-> model conversion for the pipeline table.

Datetimes are stored as ISO-8601 UTC strings with a fixed width
(``2026-01-02T03:04:05.000006Z``) so that string order is time order; that is what the
GSI sort keys and the lock's expiry condition rely on. Attributes whose value is None are
left out of an item. Approval details are JSON text (floats and nesting survive exactly;
DynamoDB numbers would need Decimal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from mlops_pipeline.adapters.aws.dynamodb.schema import (
    APPROVAL_RETENTION,
    APPROVAL_SK,
    DEPLOYED_SK,
    INTENT_SK,
    LOCK_SK,
    RUN_SK,
    RUNS_GSI_PK,
    approval_pk,
    approvals_gsi_pk,
    deployed_pk,
    lock_pk,
    run_pk,
)
from mlops_pipeline.domain.models import (
    Approval,
    ApprovalStatus,
    Decision,
    DeployedState,
    DeployIntent,
    Lock,
    RunRecord,
    StepLog,
    StepStatus,
)

_SER = TypeSerializer()
_DESER = TypeDeserializer()


# -- values --------------------------------------------------------------------------------


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


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value in DynamoDB's wire format."""
    wire: dict[str, Any] = _SER.serialize(value)
    return wire


def marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB wire format; attributes whose value is None are left out."""
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


def unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESER.deserialize(v) for k, v in item.items()}


# -- approvals -----------------------------------------------------------------------------


def approval_to_item(approval: Approval) -> dict[str, Any]:
    requested = to_iso(approval.requested_at)
    return marshal(
        {
            "pk": approval_pk(approval.id),
            "sk": APPROVAL_SK,
            "gsi1pk": approvals_gsi_pk(approval.model),
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
            "details": json.dumps(approval.details, sort_keys=True, default=str),
            "author_slack_id": approval.author_slack_id,
            "author_via": approval.author_via,
            "git_author": approval.git_author,
            "pushed_at": to_iso(approval.pushed_at) if approval.pushed_at else None,
            "required_approvals": approval.required_approvals,
            "decisions": [decision_to_map(d) for d in approval.decisions],
            "reason": approval.reason,
        }
    )


def decision_to_map(decision: Decision) -> dict[str, Any]:
    return {"user": decision.user, "action": decision.action, "at": to_iso(decision.at)}


def decision_from_map(item: Mapping[str, Any]) -> Decision:
    return Decision(user=str(item["user"]), action=str(item["action"]), at=from_iso(str(item["at"])))


def approval_from_item(item: Mapping[str, Any]) -> Approval:
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
        author_slack_id=_opt_str(item.get("author_slack_id")),
        author_via=str(item.get("author_via", "")),
        git_author=str(item.get("git_author", "")),
        pushed_at=_opt_dt(item.get("pushed_at")),
        # Records written before quorums existed needed one approval.
        required_approvals=int(item.get("required_approvals", 1)),
        decisions=tuple(decision_from_map(d) for d in item.get("decisions") or []),
        reason=str(item.get("reason", "")),
    )


# -- run records ---------------------------------------------------------------------------


def step_to_map(step: StepStatus) -> dict[str, Any]:
    item: dict[str, Any] = {
        "step": step.step,
        "status": step.status,
        "at": to_iso(step.at),
        "detail": step.detail,
    }
    if step.log is not None:
        log = step.log
        item["log"] = {"location": log.location, "lines": list(log.lines), "error": log.error}
    return item


def _step_log(value: Any) -> StepLog | None:
    if not isinstance(value, Mapping):
        return None
    return StepLog(
        location=str(value.get("location", "")),
        lines=tuple(str(line) for line in value.get("lines", [])),
        error=str(value.get("error", "")),
    )


def run_to_item(record: RunRecord) -> dict[str, Any]:
    started = to_iso(record.started_at) if record.started_at else None
    return marshal(
        {
            "pk": run_pk(record.execution),
            "sk": RUN_SK,
            # Without a start time the record stays out of the "recent runs" index.
            "gsi1pk": RUNS_GSI_PK if started else None,
            "gsi1sk": started,
            "execution": record.execution,
            "commit": record.commit,
            "repository": record.repository,
            "branch": record.branch,
            "author": record.author,
            "model": record.model,
            "version": record.version,
            "serving_flavor": record.serving_flavor,
            "serving_fallback_reason": record.serving_fallback_reason,
            "started_at": started,
            "status": record.status,
            "slack_channel": record.slack_channel,
            "slack_thread_ts": record.slack_thread_ts,
            "steps": [step_to_map(s) for s in record.steps],
            "posted": record.posted,
        }
    )


def run_from_item(item: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        execution=str(item["execution"]),
        commit=str(item.get("commit", "")),
        repository=str(item.get("repository", "")),
        branch=str(item.get("branch", "")),
        author=str(item.get("author", "")),
        model=_opt_str(item.get("model")),
        version=_opt_str(item.get("version")),
        serving_flavor=str(item.get("serving_flavor", "")),
        serving_fallback_reason=str(item.get("serving_fallback_reason", "")),
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
                log=_step_log(s.get("log")),
            )
            for s in item.get("steps", [])
        ),
        posted=int(item.get("posted", 0)),
    )


# -- locks and deployed state --------------------------------------------------------------


def lock_to_item(lock: Lock) -> dict[str, Any]:
    return marshal(
        {
            "pk": lock_pk(lock.name),
            "sk": LOCK_SK,
            "name": lock.name,
            "owner": lock.owner,
            "acquired_at": to_iso(lock.acquired_at),
            "expires_at": to_iso(lock.expires_at),
            "ttl": int(lock.expires_at.timestamp()) + 1,
        }
    )


def deployed_to_item(state: DeployedState) -> dict[str, Any]:
    return marshal(
        {
            "pk": deployed_pk(state.environment, state.model),
            "sk": DEPLOYED_SK,
            "environment": state.environment,
            "commit": state.commit,
            "commit_time": int(state.commit_time),
            "model": state.model,
            "version": state.version,
            "execution": state.execution,
            "deployed_at": to_iso(state.deployed_at),
        }
    )


def deployed_from_item(item: Mapping[str, Any]) -> DeployedState:
    return DeployedState(
        environment=str(item["environment"]),
        commit=str(item["commit"]),
        commit_time=int(item["commit_time"]),
        model=str(item["model"]),
        version=str(item["version"]),
        execution=str(item["execution"]),
        deployed_at=from_iso(str(item["deployed_at"])),
    )


def intent_to_item(name: str, intent: DeployIntent) -> dict[str, Any]:
    """The intent of a deploy under lock ``name``: same partition as the lock, its own sort key."""
    return marshal(
        {
            "pk": lock_pk(name),
            "sk": INTENT_SK,
            "environment": intent.environment,
            "execution": intent.execution,
            "function_name": intent.function_name,
            "previous_version": intent.previous_version,
            "new_version": intent.new_version,
            "recorded_at": to_iso(intent.recorded_at),
            "earlier_versions": list(intent.earlier_versions),
        }
    )


def intent_from_item(item: Mapping[str, Any]) -> DeployIntent:
    return DeployIntent(
        environment=str(item["environment"]),
        execution=str(item["execution"]),
        function_name=str(item["function_name"]),
        previous_version=_opt_str(item.get("previous_version")),
        new_version=str(item["new_version"]),
        recorded_at=from_iso(str(item["recorded_at"])),
        earlier_versions=tuple(str(v) for v in item.get("earlier_versions") or ()),
    )
