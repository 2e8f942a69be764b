"""Move ``live`` back to the version it had before this execution.

Two callers: the Catch of a smoke test (``live`` moved, the deploy's output in ``deploy``), and,
with ``"mode": "recover"``, the Catch of a deploy that failed or whose answer was lost (no
output: the deploy's intent recorded beside the lock says what to undo).

With ``"mode": "manual"`` (prod only) a person rolls prod back after a successful run
(``domain/prod_rollback.py``): ``request_id`` names a rollback the Slack button already claimed;
without it, the terminal (``mlops-pipeline rollback``) asks for the run prod runs now, naming the
caller's signed STS GetCallerIdentity (which this function sends to STS
itself), ``model`` and optionally ``to_version``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.prod_rollback import (
    ENVIRONMENT,
    STS_BODY,
    Claim,
    RollbackStatus,
    caller_arn,
    make_offer,
    proof_headers,
    proof_use,
    request_id,
)
from mlops_pipeline.handlers._runtime import Deps, logger, runtime
from mlops_pipeline.handlers.display import environment_label, error_message, error_summary

# Room left for the recovery's own words within the report's summary (display._SUMMARY_MAX).
_DEPLOY_MESSAGE_MAX = 300


def handle(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    environment = str(event["environment"])
    execution = str(event.get("execution") or "")
    deps.require_environment(environment)  # only this function's own environment
    if event.get("mode") == "manual":
        return manual(event, deps)
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


def manual(event: Mapping[str, Any], deps: Deps) -> dict[str, Any]:
    """A rollback by hand of prod: carry out a claimed one (Slack), or claim and carry out (CLI)."""
    if str(event["environment"]) != ENVIRONMENT:
        raise ConfigError(f"a rollback by hand is for {ENVIRONMENT} only")
    request_id = str(event.get("request_id") or "")
    if request_id:
        request = deps.rollbacks.get(request_id)
        if request is None:
            return {"accepted": False, "message": f"no rollback {request_id!r}"}
    else:
        claim = cli_claim(event, deps)
        if not claim.accepted or claim.request is None:
            logger.warning("rollback refused", extra={"reason": claim.message})
            return {"accepted": False, "message": claim.message}
        request = claim.request
    outcome = deps.prod_rollback.execute(
        request, lambda: deps.deployer(ENVIRONMENT, request.execution, request.model), lambda: deps.registry
    )
    status = {RollbackStatus.DONE: "SUCCEEDED", RollbackStatus.REFUSED: "REFUSED"}.get(
        outcome.status, "ERROR"
    )
    # Not a step of the run's state machine: its thread hears it all the same (the run stays SUCCEEDED).
    deps.reporter.step(request.execution, "RollbackProdByHand", status, outcome.detail)
    logger.warning("rollback by hand", extra=outcome.to_dict())
    return {"accepted": outcome.status is RollbackStatus.DONE, "message": outcome.detail, **outcome.to_dict()}


def cli_claim(event: Mapping[str, Any], deps: Deps) -> Claim:
    """Claim the rollback of the run prod runs now for the terminal's caller.

    The caller's principal, as STS answers the request's identity proof, maps through IDENTITY_MAP
    to a Slack user, who must be an allowed approver; IAM (lambda:InvokeFunction on this function) decides
    who may call at all. A run that left no offer (a first deployment, or one from before this
    feature) can be rolled back with ``to_version``.
    """
    model, to_version = str(event.get("model") or ""), str(event.get("to_version") or "")
    proof, now = event.get("identity_proof"), deps.clock.now()
    try:
        principal = verified_caller(proof)
        digest, forget_after = proof_use(proof, now)
    except (ValueError, OSError) as exc:  # no proof, a forged or stale one, STS unreachable
        return Claim(False, f"Refused: the caller's AWS identity could not be verified ({exc}).")
    # One proof, one request: a proof captured on its way (it is valid for 15 minutes) cannot
    # be sent again, by anyone, to make a second request in its signer's name.
    if not deps.rollbacks.use_proof(digest, now, forget_after):
        return Claim(
            False, "Refused: this identity proof was used before; run the command again for a new one."
        )
    current = deps.deployed.get(ENVIRONMENT, model) if model else None
    if current is None:
        return Claim(False, f"Refused: nothing is recorded as deployed in {ENVIRONMENT} for model {model!r}.")
    request = deps.rollbacks.get(request_id(current.execution))
    if request is None and to_version:
        offer = make_offer(
            current.execution, model, current.version, current.commit, to_version, deps.clock.now()
        )
        request = deps.rollbacks.offer(offer) if offer is not None else None
    if request is None:
        return Claim(
            False,
            f"Refused: the run prod runs ({request_id(current.execution)}) left no rollback offer; "
            "name the version to go back to (--to VERSION).",
        )
    user = deps.identity_resolver().resolve(principal).slack_id or ""
    if not user:
        return Claim(
            False, f"Refused: the AWS identity {principal or '(none)'} maps to no approver (IDENTITY_MAP)."
        )
    return deps.prod_rollback.claim(
        request,
        user_id=user,
        principal=principal,
        policy=deps.approval_policy(),
        members=deps.notifier.usergroup_members,
        via="cli",
        reason=str(event.get("reason") or "rolled back from the terminal"),
        to_version=to_version,
    )


def verified_caller(proof: object) -> str:
    """The principal STS names for the terminal's signed GetCallerIdentity (``identity_proof``).

    The proof must name this function as its audience; it is sent only to an STS endpoint (this
    function's own, or STS's global or regional one), never to an address the caller chose.
    """
    import boto3

    headers = proof_headers(proof, os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))
    own = urlparse(boto3.client("sts").meta.endpoint_url)
    region = os.environ.get("AWS_REGION", "")
    url = str(proof.get("url") or "") if isinstance(proof, Mapping) else ""
    target = urlparse(url)
    allowed = {own.netloc, "sts.amazonaws.com", f"sts.{region}.amazonaws.com"}
    if (
        target.scheme not in ("https", own.scheme)
        or target.netloc not in allowed
        or target.path not in ("", "/")
    ):
        raise ValueError(f"the identity proof names no STS endpoint ({target.netloc or 'none'})")
    request = urllib.request.Request(url, data=STS_BODY.encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - an STS endpoint (checked)
            answer = response.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:  # STS refused the signature (forged, expired, replayed elsewhere)
        raise ValueError(f"STS refused the identity proof ({exc.code})") from None
    return caller_arn(answer)


@logger.inject_lambda_context(correlation_id_path="execution", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, runtime())
