"""Report a step of the state machine (start, failures, success) into the run's Slack thread."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.build_logs import read_build_log
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
    deps.reporter.step(execution, step, status, detail, trigger=trigger, log=log)
    logger.info("reported", extra={"step": step, "status": status, "build_log": bool(log and log.lines)})
    return {}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
