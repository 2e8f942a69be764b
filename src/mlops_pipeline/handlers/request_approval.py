"""The waitForTaskToken task: store the approval (token server-side) and post the card.

Storing fails -> ApprovalRequestFailed (the ASL ends the run in ApprovalNotRequested). The card
cannot be posted -> the run still waits on the stored record, and its record and thread say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.domain.approvals import ApprovalRequest
from mlops_pipeline.domain.errors import InvalidEventError
from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.domain.trigger import pushed_at, trigger_author
from mlops_pipeline.handlers._runtime import Deps, logger, runtime

NO_CARD = (
    "the approval card could not be posted (Slack unreachable); the run waits for a decision: "
    "`mlops-pipeline local approve|reject <run>` locally, a signed interaction on AWS"
)


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    token = event.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidEventError("request_approval needs the task token ($$.Task.Token) in 'token'")
    execution = str(event["execution"])
    model = event["model"]
    stage = event.get("stage") or {}
    trigger = event.get("input") if isinstance(event.get("input"), Mapping) else {}
    thread = deps.reporter.thread(execution, trigger)
    request = ApprovalRequest(
        task_token=token,
        execution=execution,
        model_name=str(model["model_name"]),
        model_version=str(model["model_version"]),
        commit=str(model.get("commit", "")),
        # Who pushed comes from the trusted trigger only; the git email is shown, never trusted.
        author=trigger_author(trigger),
        git_author=str(model.get("author_email") or ""),
        pushed_at=pushed_at(trigger),
        required_approvals=deps.required_approvals(),
        details={"evaluation": dict(model), "smoke": stage.get("smoke"), "deploy": stage.get("deploy")},
        timeout_seconds=config.get_int("APPROVAL_TIMEOUT_SECONDS", deps.env),
        thread=thread,
    )
    approval = deps.approvals.request(request)
    if approval.status is ApprovalStatus.PENDING and approval.slack_ts is None:
        # Slack is down: the run waits on the stored record; the thread says so once it is back.
        deps.reporter.step(execution, "Approval", "CARD_NOT_POSTED", NO_CARD)
    logger.info(
        "approval requested",
        extra={
            "approval_id": approval.id,
            "model": approval.model,
            "status": approval.status.value,
            "author_resolved": approval.author_resolved,
            "required_approvals": approval.required_approvals,
        },
    )
    return {"approval_id": approval.id, "channel": approval.slack_channel, "ts": approval.slack_ts}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
