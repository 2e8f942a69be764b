"""Move ``live`` back to the version it had before this execution (after a failed smoke test)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label, error_summary


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution, environment = str(event["execution"]), str(event["environment"])
    deps.require_environment(environment)  # only this function's own environment
    deployer = deps.deployer(environment, execution)
    result = deps.deployment.rollback(execution, environment, deployer, event["deploy"])
    why = error_summary(event.get("error"))
    deps.reporter.step(
        execution,
        f"Rollback{environment_label(environment)}",
        "SUCCEEDED",
        f"live back to v{result['rolled_back_to']} (from v{result['from_version']})"
        + (f"; cause: {why}" if why else ""),
    )
    logger.warning("rolled back", extra=result)
    return result


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
