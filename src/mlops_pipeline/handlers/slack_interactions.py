"""Slack interactivity endpoint (API Gateway HTTP API v2 -> Lambda).

Order matters: the signature is verified on the raw body before anything is parsed;
a refusal is answered to the clicking user only (ephemeral) and changes nothing.

Two kinds of click: Approve/Reject on an approval card, and "Roll back prod" on a run's final
success message. A rollback click is only checked (an allowed approver, prod still the run's)
and claimed here, in one conditional write; the prod rollback function does the work,
started asynchronously so that Slack hears back within its 3 seconds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.adapters.slack.errors import BadRequestError, SignatureError
from mlops_pipeline.domain.errors import AlreadyDecidedError, ChatError
from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.domain.prod_rollback import RollbackStatus
from mlops_pipeline.handlers._runtime import Deps, logger, runtime

if TYPE_CHECKING:
    from mlops_pipeline.adapters.slack.interactions import BlockAction


def _response(status: int, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body or {}),
    }


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    from mlops_pipeline.adapters.slack.interactions import ROLLBACK_ACTION_ID, parse_block_action
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

    if action.action_id == ROLLBACK_ACTION_ID:
        rollback_click(action, deps)
        return _response(200)
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


def rollback_click(action: BlockAction, deps: Deps) -> None:
    """Claim the run's rollback for an approver and start the prod rollback function."""
    service = deps.prod_rollback
    if not deps.setting("PROD_ROLLBACK_FUNCTION"):  # refused before anything is claimed
        _answer(deps, action, "Refused: rollback from Slack is not configured (PROD_ROLLBACK_FUNCTION).")
        return
    claim = service.claim(
        deps.rollbacks.get(action.approval_id),
        user_id=action.user_id,
        policy=deps.approval_policy(),
        members=deps.notifier.usergroup_members,
        via="slack",
        reason="rolled back from Slack",
        channel=action.channel_id,
    )
    message = claim.message
    if claim.accepted and claim.request is not None:
        payload = {"mode": "manual", "environment": "prod", "request_id": claim.request.id}
        try:
            deps.rollback_starter.start(payload)
        except Exception as exc:  # a ConfigError (not configured) or the invocation refused
            # Not started: the offer is given back, so an approver can click again later.
            logger.error("could not start the prod rollback", extra={"reason": str(exc)[:300]})
            back = f"the rollback could not be started ({type(exc).__name__})"
            with contextlib.suppress(AlreadyDecidedError):
                service.store.finish(claim.request.id, RollbackStatus.OFFERED, back, deps.clock.now())
            message = f"Refused: {back}. Nothing moved; try again later."
    logger.info(
        "rollback click",
        extra={"rollback_id": action.approval_id, "user": action.user_id, "accepted": claim.accepted},
    )
    _answer(deps, action, message)


def _answer(deps: Deps, action: BlockAction, message: str) -> None:
    try:
        deps.notifier.post_ephemeral(action.channel_id, action.user_id, message)
    except ChatError as exc:
        logger.warning("could not answer the clicker", extra={"reason": str(exc)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
