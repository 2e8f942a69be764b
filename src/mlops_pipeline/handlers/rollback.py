"""Move ``live`` back to the version it had before this execution.

Two callers: the Catch of a smoke test (``live`` moved, the deploy's output in ``deploy``), and,
with ``"mode": "recover"``, the Catch of a deploy that failed or whose answer was lost (no
output: the deploy's intent recorded beside the lock says what to undo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label, error_message, error_summary

# Room left for the recovery's own words within the report's summary (display._SUMMARY_MAX).
_DEPLOY_MESSAGE_MAX = 300


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution, environment = str(event["execution"]), str(event["environment"])
    deps.require_environment(environment)  # only this function's own environment
    model = model_name(event)
    if event.get("mode") == "recover":
        return recover(execution, environment, model, event.get("error") or {}, deps)
    deployer = deps.deployer(environment, execution, model)
    result = deps.deployment.rollback(execution, environment, model, deployer, event["deploy"])
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


def model_name(event: Mapping[str, Any]) -> str:
    """The run's model (``model.model_name`` of the state's input): whose function and lock."""
    model = event.get("model")
    name = str(model.get("model_name") or "") if isinstance(model, Mapping) else ""
    if not name:
        raise ConfigError("the rollback input names no model (model.model_name): nothing to roll back")
    return name


def recover(
    execution: str, environment: str, model: str, error: Mapping[str, Any], deps: Deps
) -> dict[str, Any]:
    """Undo what a failed deploy did to ``live``; the deploy's error, with what was done, for its report.

    The ASL puts the answer where the deploy's error was (``$.error``), so the one report that
    follows says both why the deploy failed and where ``live`` is now.
    """
    recovery = deps.deployment.recover(
        execution, environment, model, lambda: deps.deployer(environment, execution, model)
    )
    deps.reporter.step(execution, f"Recover{environment_label(environment)}", "SUCCEEDED", recovery.detail)
    logger.warning("recovered after a failed deploy", extra=recovery.to_dict())
    message = error_message(error)[:_DEPLOY_MESSAGE_MAX]
    return {
        "Error": str(error.get("Error", "Error")),
        "Cause": f"{message}. Recovery: {recovery.detail}; deployment lock freed".lstrip(". "),
        "recovery": recovery.to_dict(),
    }


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
