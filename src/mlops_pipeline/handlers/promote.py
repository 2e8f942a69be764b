"""Record a successful deployment: registry alias, lineage tags, deployed state; free the lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.deployment import Candidate
from mlops_pipeline.domain.errors import RegistryError
from mlops_pipeline.domain.lineage import alias_for, deployment_tags
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution, environment = str(event["execution"]), str(event["environment"])
    model = event["model"]
    name, version = str(model["model_name"]), str(model["model_version"])
    alias = alias_for(environment)
    deploy = event["deploy"]
    tags = deployment_tags(environment, deploy, deps.clock.now(), event.get("approval"))
    candidate = Candidate.from_evaluation(model)
    try:
        deps.registry.set_tags(name, version, tags)
        deps.registry.set_alias(name, alias, version)
    except Exception as exc:
        # live already serves this version and passed its smoke test: that is recorded and the
        # lock freed whatever the registry says; the error names what the registry still lacks.
        deps.deployment.complete(execution, environment, candidate)
        raise RegistryError(
            f"{environment} live serves {name} v{version} (Lambda v{deploy['new_version']}, smoke test "
            f"passed) but the registry was not updated ({str(exc)[:200]}). To repair: set alias "
            f"`{alias}` of {name} to version {version} and its tags {', '.join(sorted(tags))}; "
            f"or move live back to v{deploy.get('previous_version')}"
        ) from exc
    deps.deployment.complete(execution, environment, candidate)
    deps.reporter.step(
        execution,
        f"Promote{environment_label(environment)}",
        "SUCCEEDED",
        f"registry alias `{alias}` -> {name} v{version} (Lambda v{deploy['new_version']})",
    )
    logger.info("promoted", extra={"alias": alias, "version": version})
    return {"alias": alias, "version": version, "tags": tags}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
