"""Report a step of the state machine (start, failures, success) into the run's Slack thread.

The run's final success also leaves a prod rollback offer (``domain/prod_rollback.py``) and
puts a "Roll back prod" button on that message: the version the run put in prod, and the one
it replaced (the champion the run was evaluated against). A first deployment gets no button.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.build_logs import read_build_log
from mlops_pipeline.domain.models import ApprovalStatus, StepLog
from mlops_pipeline.domain.prod_rollback import ENVIRONMENT, RollbackRequest, make_offer
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import error_summary


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution = str(event["execution"])
    trigger = event.get("input") or {}
    step, status = str(event.get("step", "Pipeline")), str(event.get("status", "STARTED"))
    detail = error_summary(event.get("error"))
    if step == "Pipeline" and status == "STARTED":
        detail = f"commit `{str(trigger.get('commit', ''))[:12]}` by {trigger.get('author', 'unknown')}"
    # A failed CodeBuild step (any: keyed on the error's shape) brings its log's last lines.
    log = read_build_log(event.get("error"), lambda: deps.build_logs) if status == "FAILED" else None
    reporter = deps.reporter
    offer = rollback_offer(execution, deps) if (step, status) == ("Pipeline", "SUCCEEDED") else None
    if offer is not None:
        reporter = with_rollback_button(reporter, offer)
    reporter.step(execution, step, status, detail, trigger=trigger, log=log)
    logger.info(
        "reported",
        extra={"step": step, "status": status, "build_log": bool(log and log.lines), "rollback": bool(offer)},
    )
    return {}


def rollback_offer(execution: str, deps: Deps) -> RollbackRequest | None:
    """Store the run's prod rollback offer; None when there is nothing to offer or it could not
    be stored (reporting never changes an outcome: the run succeeded either way)."""
    try:
        run = deps.runs.get(execution)
        if run is None or not run.model or not run.version:
            return None
        current = deps.deployed.get(ENVIRONMENT, run.model)
        if current is None or current.execution != execution:
            return None  # prod is not (or no longer) this run's: nothing of it to roll back
        previous = None
        for approval in deps.approvals_store.list_for_execution(run.model, execution):
            if approval.status is ApprovalStatus.APPROVED and approval.version == run.version:
                evaluation = approval.details.get("evaluation") or {}
                previous = str(evaluation.get("champion_version") or "") or None
        offer = make_offer(execution, run.model, run.version, run.commit, previous, deps.clock.now())
        return deps.rollbacks.offer(offer) if offer is not None else None
    except Exception:
        logger.exception("could not offer a prod rollback for this run")
        return None


def with_rollback_button(reporter: Reporter, offer: RollbackRequest) -> Reporter:
    """``reporter`` whose final success message carries the offer's button."""
    from mlops_pipeline.adapters.slack import views

    plain = reporter.progress_view

    def view(step: str, status: str, detail: str, log: StepLog | None = None) -> views.View:
        if (step, status) != ("Pipeline", "SUCCEEDED"):
            return plain(step, status, detail, log)  # type: ignore[return-value]
        return views.success_with_rollback(
            step, status, detail, log, offer.id, offer.model, offer.version, offer.to_version
        )

    with_button = copy.copy(reporter)  # the same stores and notifier; only this message differs
    with_button.progress_view = view
    return with_button


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
