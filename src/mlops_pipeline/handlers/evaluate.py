"""Evaluate the built candidate against the champion (the quality gate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.domain.evaluation import (
    BuildOutput,
    evaluate_candidate,
    parse_build_exports,
    serving_summary,
)
from mlops_pipeline.handlers._runtime import Deps, logger, runtime


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution = str(event["execution"])
    trigger = event.get("input") or {}
    build = parse_build_exports((event.get("build") or {}).get("exported"))
    # CodeBuild has no report hook of its own: both build steps are reported once they are over.
    deps.reporter.step(
        execution, "Train", "SUCCEEDED", "train.py ran without the pipeline's credentials", trigger=trigger
    )
    # The trusted steps refused an undeclared model already; this is the deploying side's check.
    config.check_declared(build.model_name, deps.env)
    result: dict[str, Any] = {}
    try:
        result = evaluate_candidate(deps.registry, build, trigger, deps.gate_limits())
    finally:
        # The build succeeded even when the gate cannot judge it; its serving flavour once read.
        deps.reporter.step(execution, "Build", "SUCCEEDED", build_detail(build, result), trigger=trigger)
    deps.runs.update(
        execution,
        model=build.model_name,
        version=build.model_version,
        serving_flavor=result["serving_flavor"] or None,
        serving_fallback_reason=result["serving_fallback_reason"] or None,
    )
    deps.reporter.step(execution, "Evaluate", "SUCCEEDED" if result["passed"] else "FAILED", result["reason"])
    logger.info("gate evaluated", extra={"passed": result["passed"], "metric": result["metric"]})
    return result


def build_detail(build: BuildOutput, result: Mapping[str, Any]) -> str:
    """The Build step's line: the version, its artifact and how it is served (and why not ONNX)."""
    detail = (
        f"{build.model_name} v{build.model_version} registered, {build.artifact.kind} `{build.artifact.uri}`"
    )
    serving = serving_summary(result.get("serving_flavor"), result.get("serving_fallback_reason"))
    return f"{detail}, serving {serving}" if serving else detail


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
