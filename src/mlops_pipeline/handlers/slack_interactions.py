"""Slack interactivity endpoint (API Gateway HTTP API v2 -> Lambda).

Order matters: the signature is verified on the raw body before anything is parsed;
a refusal is answered to the clicking user only (ephemeral) and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.adapters.slack.errors import BadRequestError, SignatureError
from mlops_pipeline.domain.errors import ChatError
from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.handlers._runtime import Deps, logger, runtime


def _response(status: int, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body or {}),
    }


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    from mlops_pipeline.adapters.slack.interactions import parse_block_action
    from mlops_pipeline.adapters.slack.signature import raw_body_of, verify_request

    try:
        raw = raw_body_of(event)
        verify_request(
            event.get("headers") or {},
            raw,
            deps.slack_signing_secret,
            deps.clock,
            max_age_seconds=config.get_int("SIGNATURE_MAX_AGE_SECONDS", deps.env),
        )
    except (SignatureError, BadRequestError) as exc:
        logger.warning("refused unsigned or forged request", extra={"reason": str(exc)})
        return _response(401, {"error": "invalid request signature"})
    try:
        action = parse_block_action(raw)
    except BadRequestError as exc:
        logger.warning("malformed interaction", extra={"reason": str(exc)})
        return _response(400, {"error": str(exc)})

    outcome = deps.approvals.decide(
        approval_id=action.approval_id,
        action=action.action_id,
        user_id=action.user_id,
        policy=deps.approval_policy(),
    )
    logger.info(
        "interaction",
        extra={"approval_id": action.approval_id, "user": action.user_id, "accepted": outcome.accepted},
    )
    # The clicker always hears what became of the click (counted, refused, already decided).
    try:
        deps.notifier.post_ephemeral(action.channel_id, action.user_id, outcome.message)
    except ChatError as exc:
        logger.warning("could not answer the clicker", extra={"reason": str(exc)})
    decided = outcome.approval
    if outcome.decided_now and decided is not None and decided.status is ApprovalStatus.APPROVED:
        by = ", ".join(f"<@{user}>" for user in decided.approvers) or f"<@{decided.decided_by}>"
        deps.reporter.step(decided.execution, "Approval", "APPROVED", f"by {by}")
    return _response(200)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
