"""Push webhook of a git host (GitHub or GitLab) -> one pipeline execution per push.

Order matters: the host's signature is verified on the raw body before anything is parsed
(401 otherwise); a body that is not the host's format is refused (400); a genuine delivery
that is not a push to the configured branch is ignored with a 2xx and the reason (the host
should not retry it). A push is claimed by a conditional write (one record per push, whatever
delivery carries it), then started under the name of the delivery that claimed it first:
a redelivery, a replayed body or two racing deliveries start one execution at most.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline import config
from mlops_pipeline.domain.errors import ConfigError, PipelineStartError
from mlops_pipeline.domain.webhook import (
    HOSTS,
    Ignored,
    MalformedDeliveryError,
    Push,
    delivery_id,
    execution_name,
    github_push,
    gitlab_push,
)
from mlops_pipeline.handlers._runtime import Deps, logger, runtime

RECORD_MARGIN = timedelta(days=1)  # the idempotency record outlives the redelivery window


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _host(deps: Deps) -> str:
    host = deps.setting("GIT_HOST").strip().lower()
    if host not in HOSTS:
        raise ConfigError(f"GIT_HOST must be one of {', '.join(HOSTS)}, not {host!r}")
    return host


def _parse(host: str, headers: Mapping[str, Any], raw: bytes, deps: Deps) -> tuple[str, Push | Ignored]:
    """The delivery id and what the (verified) delivery is; MalformedDeliveryError if not the host's."""
    from mlops_pipeline.adapters.git_hosts.signature import DELIVERY_HEADERS, EVENT_HEADERS, header

    delivery = delivery_id(header(headers, DELIVERY_HEADERS[host]))
    repository, branch = deps.setting("GIT_REPOSITORY"), deps.setting("GIT_BRANCH")
    if host == "github":
        return delivery, github_push(header(headers, EVENT_HEADERS[host]) or "", raw, repository, branch)
    return delivery, gitlab_push(raw, repository, branch)


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    from mlops_pipeline.adapters.git_hosts.signature import (
        BadDeliveryError,
        WebhookSignatureError,
        raw_body_of,
        verify,
    )

    host = _host(deps)
    headers = event.get("headers") or {}
    try:
        raw = raw_body_of(event)
        verify(host, headers, raw, deps.git_webhook_secret)
    except (WebhookSignatureError, BadDeliveryError) as exc:
        logger.warning("refused unsigned or forged delivery", extra={"reason": str(exc)})
        return _response(401, {"error": "invalid webhook signature"})
    try:
        delivery, push = _parse(host, headers, raw, deps)
    except MalformedDeliveryError as exc:
        logger.warning("malformed delivery", extra={"reason": str(exc)})
        return _response(400, {"error": str(exc)})
    if isinstance(push, Ignored):
        logger.info("ignored delivery", extra={"delivery": delivery, "reason": push.reason})
        return _response(200, {"status": "ignored", "reason": push.reason})

    now = deps.clock.now()
    max_age = timedelta(seconds=config.get_int("WEBHOOK_MAX_AGE_SECONDS", deps.env))
    if push.pushed_at is not None and abs(now - push.pushed_at) > max_age:
        # Beyond the record's lifetime a replayed body would start a run again: refuse it.
        reason = f"stale delivery: pushed at {push.pushed_at.isoformat()}, outside the {max_age} window"
        logger.warning("refused stale delivery", extra={"delivery": delivery, "reason": reason})
        return _response(400, {"error": reason})

    record = deps.deliveries.claim(push.key, delivery, now, now + max_age + RECORD_MARGIN)
    if record.execution:
        logger.info("already processed", extra={"delivery": delivery, "execution": record.execution})
        return _response(200, {"status": "already processed", "execution": record.execution})
    # Every delivery of this push starts the same name with the same input: at most one execution.
    name = execution_name(host, record.delivery_id)
    try:
        started = deps.starter.start(name, push.trigger(record.received_at))
    except PipelineStartError as exc:
        logger.error("could not start the pipeline", extra={"delivery": delivery, "reason": str(exc)})
        return _response(503, {"error": "the pipeline could not be started; redeliver later"})
    deps.deliveries.mark_started(push.key, started.execution)
    status = "started" if started.new else "already processed"
    logger.info(status, extra={"delivery": delivery, "execution": started.execution, "commit": push.commit})
    return _response(202 if started.new else 200, {"status": status, "execution": started.execution})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
