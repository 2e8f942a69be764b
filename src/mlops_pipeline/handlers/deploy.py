"""Deploy the candidate's serving artifact (zip or image) to an environment's function and move ``live``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.deployment import Candidate
from mlops_pipeline.domain.policy import APPROVAL_ENVIRONMENTS, check_prod_approval
from mlops_pipeline.handlers import rollout_steps
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label


def require_approval(event: Mapping[str, Any], deps: Deps, execution: str, candidate: Candidate) -> None:
    """Defence in depth: the approval record itself, not the state machine's word, lets prod move.

    ApprovalRequiredError unless ``event["approval"]["approval_id"]`` (RequestApproval's output)
    names an APPROVED record of this execution, model and version with its quorum.
    """
    given = event.get("approval")
    approval_id = str(given.get("approval_id") or "") if isinstance(given, Mapping) else ""
    record = deps.approvals_store.get(approval_id) if 0 < len(approval_id) <= 200 else None
    approval = check_prod_approval(record, approval_id, execution, candidate.model, candidate.version)
    logger.info("approval checked", extra={"approval_id": approval.id, "approvers": list(approval.approvers)})


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution, environment = str(event["execution"]), str(event["environment"])
    deps.require_environment(environment)  # only this function's own environment
    mode = event.get("mode")
    if mode in ROLLOUT_MODES:  # a step of the gradual rollout (prod), see rollout_steps
        return ROLLOUT_MODES[mode](event, deps)
    candidate = Candidate.from_evaluation(event["model"])
    if environment in APPROVAL_ENVIRONMENTS:
        require_approval(event, deps, execution, candidate)
    deployer = deps.deployer(environment, execution, candidate.model)
    gradual = rollout_steps.gradual(deps, environment, deployer.current_version)
    result = deps.deployment.deploy(execution, environment, deployer, candidate, move_alias=not gradual)
    previous = f"v{result.previous_version}" if result.previous_version else "nothing"
    moved = (
        f"v{result.new_version} published; live stays on {previous} until the rollout shifts traffic"
        if gradual
        else f"live {previous} -> v{result.new_version}"
    )
    deps.reporter.step(
        execution, f"Deploy{environment_label(environment)}", "SUCCEEDED", f"{result.function_name}: {moved}"
    )
    logger.info("deployed", extra={**result.to_dict(), "gradual": gradual})
    return {**result.to_dict(), "gradual": gradual}


ROLLOUT_MODES = {"shift": rollout_steps.shift, "check": rollout_steps.check}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
