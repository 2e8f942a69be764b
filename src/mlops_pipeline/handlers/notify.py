"""EventBridge "Step Functions Execution Status Change" (through SNS) -> the run's Slack thread.

A run that ended ABORTED, FAILED or TIMED_OUT also ends its pending approvals (EXPIRED for a
timeout, CANCELLED otherwise), so nobody is asked to decide for a run that no longer waits.
An ended run holds no deployment lock: a lease it still holds (its deploy was killed by the
function's timeout, its rollback never ran) is released, so the next run need not wait for it.

The run's thread is caught up first (steps whose posts failed while Slack was down); while
it cannot be, the invocation fails after doing everything else, for Lambda to retry it. A final
success message posted this late still carries the "Roll back prod" button when the run's offer
is still open (the offer is stored before the post is tried, so a Slack outage loses no button).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.deployment import lock_name
from mlops_pipeline.domain.errors import InvalidEventError, ThreadNotCaughtUpError
from mlops_pipeline.domain.models import RunRecord
from mlops_pipeline.domain.prod_rollback import RollbackStatus, request_id
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.functions import ENVIRONMENTS
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.report import with_rollback_button

DETAIL_TYPE = "Step Functions Execution Status Change"
FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
ENDS_APPROVALS = {"FAILED", "TIMED_OUT", "ABORTED"}
# Run-record statuses that already tell the execution's outcome (reported by the ASL itself).
ALREADY_TOLD = {"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED", "SUPERSEDED"}


def status_changes(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The EventBridge events inside an SNS event; InvalidEventError for anything else."""
    out = []
    for record in SNSEvent(dict(event)).records:
        try:
            message = json.loads(record.sns.message)
        except json.JSONDecodeError:
            raise InvalidEventError("SNS message is not JSON") from None
        if not isinstance(message, dict) or message.get("detail-type") != DETAIL_TYPE:
            logger.info("ignored message", extra={"detail_type": message.get("detail-type")})
            continue
        out.append(message.get("detail") or {})
    return out


def free_locks(deps: Deps, execution: str, model: str | None) -> list[str]:
    """Release the deployment locks ``execution`` still holds (the release is conditional on the owner).

    A run only ever locks its own model's functions; a run with no model yet (ended before its
    build registered one) never took a lock.
    """
    if not model:
        return []
    freed = [env for env in ENVIRONMENTS if deps.locks.release(lock_name(env, model), execution)]
    if freed:
        logger.warning("deployment locks freed with the run", extra={"environments": freed})
    return freed


def catch_up_reporter(deps: Deps, run: RunRecord) -> Reporter:
    """The reporter that catches ``run``'s thread up: with the rollback button on the final
    success message while the run's offer is open (unreadable offers: no button, never a failure)."""
    if run.status != "SUCCEEDED":
        return deps.reporter
    try:
        offer = deps.rollbacks.get(request_id(run.execution))
    except Exception:
        logger.exception("could not read the run's prod rollback offer")
        return deps.reporter
    if offer is None or offer.status is not RollbackStatus.OFFERED:
        return deps.reporter
    return with_rollback_button(deps.reporter, offer)


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    posted = 0
    behind: list[str] = []
    for detail in status_changes(event):
        execution, status = str(detail.get("executionArn", "")), str(detail.get("status", ""))
        if not execution or status not in FINAL:
            continue
        run = deps.runs.get(execution)
        free_locks(deps, execution, run.model if run is not None else None)
        if status in ENDS_APPROVALS and run is not None and run.model:
            # A dead run waits for nobody: its pending approvals end, their cards say so.
            ended = deps.approvals.end_for_run(execution, run.model, status)
            if ended:
                logger.info("approvals ended with the run", extra={"approvals": ended, "status": status})
        if run is not None and (run.status in ALREADY_TOLD or run.status == status):
            # The outcome is told already (by the state machine, or by an earlier delivery of
            # this event): only what the thread still lacks is posted.
            if not catch_up_reporter(deps, run).catch_up(execution):
                behind.append(execution)
            continue
        trigger: Mapping[str, Any] = {}
        if isinstance(detail.get("input"), str):
            try:
                parsed = json.loads(detail["input"])
                trigger = parsed if isinstance(parsed, dict) else {}
            except json.JSONDecodeError:
                trigger = {}
        cause = detail.get("cause") or detail.get("error") or ""
        if not deps.reporter.step(execution, "Pipeline", status, str(cause)[:500], trigger=trigger):
            behind.append(execution)
        posted += 1
    if behind:
        # Everything is recorded; only the chat lags. Failing makes Lambda retry this
        # asynchronous invocation later (twice by default), and the retry catches up.
        raise ThreadNotCaughtUpError(f"the Slack thread of {', '.join(behind)} lacks recorded steps")
    return {"posted": posted}


@logger.inject_lambda_context(correlation_id_path="Records[0].Sns.MessageId", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
