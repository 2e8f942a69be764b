"""The approval timed out in the state machine: mark it expired and update its card.

An APPROVED or REJECTED record of this execution is expired too: its answer never reached the
run (the run timed out instead), and the record must agree with the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.handlers._runtime import Deps, logger, runtime


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    execution = str(event["execution"])
    model_name = str(event["model"]["model_name"])
    expired = deps.approvals.expire(execution, model_name)
    logger.info("approvals expired", extra={"expired": expired})
    return {"expired": expired}


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
