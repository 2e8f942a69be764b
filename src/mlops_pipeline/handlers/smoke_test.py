"""Invoke ``live`` with the model's input example; fail (for the ASL to roll back) if it misbehaves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.domain import smoke
from mlops_pipeline.domain.errors import SmokeTestFailedError
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution, environment = str(event["execution"]), str(event["environment"])
    deps.require_environment(environment)  # only this function's own environment
    model, deployed = event["model"], event["deploy"]
    step = f"SmokeTest{environment_label(environment)}"
    example = model.get("smoke_input")
    if not example:
        deps.reporter.step(execution, step, "FAILED", "the model version has no smoke_input example")
        raise SmokeTestFailedError(
            f"{model.get('model_name')} v{model.get('model_version')} has no input example"
        )
    name = str(model.get("model_name") or "")
    function = deps.model_function(environment, name)  # undeclared: refused before any call
    deployer = deps.deployer(environment, execution, name)
    # A gradual rollout published the version without moving live: call the version itself.
    version = str(deployed.get("new_version") or "")
    result = deployer.invoke_alias(example, qualifier=version if deployed.get("gradual") else None)
    outcome = smoke.check(
        result,
        example,
        # The model's own bound (Terraform `models`), else the pipeline-wide one.
        max_latency_ms=function.smoke_max_latency_ms or config.get_float("SMOKE_MAX_LATENCY_MS", deps.env),
        expected_version=str(deployed.get("new_version") or "") or None,
        expected_model_version=str(model.get("model_version") or "") or None,
    )
    logger.info("smoke test", extra=outcome.to_dict())
    if not outcome.passed:
        deps.reporter.step(execution, step, "FAILED", outcome.reason)
        raise SmokeTestFailedError(f"{environment}: {outcome.reason}")
    deps.reporter.step(execution, step, "SUCCEEDED", outcome.reason)
    return outcome.to_dict()


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
