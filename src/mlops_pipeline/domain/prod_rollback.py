"""Roll prod back by hand: from the run's final Slack message or from the terminal.

A successful run leaves a rollback *offer* (one record per run, keyed by its execution name):
which model version the run put in prod and which one it replaced. Asking for the rollback
claims the offer in one conditional write (OFFERED -> REQUESTED), so of two clicks, or a click
and a CLI call, exactly one counts. The rollback itself runs under the prod deployment lock of
that model and is refused when prod moved on since: the deployed state of prod no longer names
the run, or ``live`` serves neither the run's Lambda version nor the one it replaced.

Who may ask: an allowed approver (``APPROVERS`` / ``APPROVER_GROUP``), a Slack user by the
signed click, a terminal user by the AWS principal mapped through ``IDENTITY_MAP``. That principal
is STS's answer, not the caller's word: the terminal sends a SigV4-signed ``GetCallerIdentity``
request (made with its own credentials, naming this function as its audience, valid 15 minutes)
and the rollback function sends it to STS itself (Vault's AWS IAM auth, in small).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mlops_pipeline.domain.deployment import lock_name
from mlops_pipeline.domain.errors import AlreadyDecidedError, ChatError, DeploymentLockedError
from mlops_pipeline.domain.lineage import alias_for, iso
from mlops_pipeline.domain.models import DeployedState
from mlops_pipeline.domain.policy import ApprovalPolicy
from mlops_pipeline.ports import (
    Clock,
    DeployedStateStore,
    FunctionDeployer,
    LockStore,
    ModelRegistry,
    RollbackStore,
)

ENVIRONMENT = "prod"
ALIAS = alias_for(ENVIRONMENT)
LAMBDA_TAG = f"{ENVIRONMENT}_lambda_version"  # written by PromoteProd (lineage.deployment_tags)
FUNCTION_TAG = f"{ENVIRONMENT}_function"
REASON_MAX = 300

# The terminal's identity proof: a signed STS GetCallerIdentity request the function sends itself.
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
AUDIENCE_HEADER = "x-mlops-rollback-function"  # signed: a proof made for another function is refused
# Signed too: a random value per proof, so two proofs made within one second differ (SigV4 is
# deterministic) and each is a single-use token of its own (``proof_use``).
NONCE_HEADER = "x-mlops-rollback-nonce"
PROOF_HEADERS = frozenset(
    {"authorization", "x-amz-date", "x-amz-security-token", "content-type", AUDIENCE_HEADER, NONCE_HEADER}
)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"  # SigV4's X-Amz-Date
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([a-z0-9;-]+)")
_ARN = re.compile(r"<Arn>(arn:aws[a-z-]*:(?:iam|sts)::\d{12}:[^<]{1,512})</Arn>")


class RollbackStatus(StrEnum):
    OFFERED = "OFFERED"  # the run's final message carries the button; nobody asked yet
    REQUESTED = "REQUESTED"  # claimed by one approver; the rollback function is on it
    DONE = "DONE"
    REFUSED = "REFUSED"  # prod moved on, or a deploy held the lock: nothing moved
    FAILED = "FAILED"  # something failed; ``detail`` says where live and the registry are


@dataclass(frozen=True)
class RollbackRequest:
    """One run's rollback offer and, once claimed, who asked, why and what came of it."""

    id: str  # the run's execution name (what the button carries)
    execution: str  # the run's execution ARN (its Slack thread)
    model: str
    version: str  # the model version the run put in prod (rolled away from)
    to_version: str  # the model version it replaced (prod goes back to it)
    commit: str
    status: RollbackStatus
    offered_at: datetime
    requested_by: str = ""  # Slack user id of an approver
    principal: str = ""  # the verified AWS principal (terminal), else ""
    via: str = ""  # "slack" | "cli"
    reason: str = ""
    requested_at: datetime | None = None
    channel: str = ""  # where the click came from (ephemeral answers)
    detail: str = ""  # the outcome, in words
    finished_at: datetime | None = None

    @property
    def who(self) -> str:
        """Who asked, for tags and the thread: the Slack user, else the AWS principal."""
        return self.requested_by or self.principal or "unknown"


def _lowercase_headers(proof: object) -> dict[str, str]:
    """A proof's headers by lowercase name (none when it has no header mapping)."""
    given = proof.get("headers") if isinstance(proof, Mapping) else None
    return {str(k).lower(): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}


def signs_audience(authorization: str) -> bool:
    """Whether a SigV4 ``Authorization`` header signs :data:`AUDIENCE_HEADER` (an identity proof's)."""
    signed = _SIGNED_HEADERS.search(authorization)
    return signed is not None and AUDIENCE_HEADER in signed.group(1).split(";")


def proof_headers(proof: object, audience: str) -> dict[str, str]:
    """The headers of a terminal's identity proof to send to STS; ValueError saying why it is no proof."""
    if not isinstance(proof, Mapping) or proof.get("body") != STS_BODY:
        raise ValueError("the request carries no identity proof (a signed STS GetCallerIdentity)")
    headers = {k: v for k, v in _lowercase_headers(proof).items() if k in PROOF_HEADERS}
    if not audience or headers.get(AUDIENCE_HEADER) != audience:
        raise ValueError(f"the identity proof was made for another function, not {audience or '(unknown)'}")
    if not signs_audience(headers.get("authorization", "")):
        raise ValueError("the identity proof does not sign its audience")
    return headers


# STS accepts a signature for 15 minutes (and a few of clock skew): a used proof is remembered that long.
PROOF_LIFETIME = timedelta(minutes=20)
_SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")


def proof_use(proof: object, now: datetime) -> tuple[str, datetime]:
    """(digest, forget-after) that makes a verified identity proof single-use: the SHA-256 of its
    signature, remembered until the proof can no longer be accepted (X-Amz-Date + PROOF_LIFETIME,
    or ``now`` + PROOF_LIFETIME when the date does not parse). ValueError when it has no signature."""
    headers = _lowercase_headers(proof)
    signature = _SIGNATURE.search(headers.get("authorization", ""))
    if signature is None:
        raise ValueError("the identity proof carries no SigV4 signature")
    try:
        signed = datetime.strptime(headers.get("x-amz-date", ""), AMZ_DATE_FORMAT).replace(tzinfo=now.tzinfo)
    except ValueError:
        signed = now
    return hashlib.sha256(signature.group(1).encode()).hexdigest(), max(signed, now) + PROOF_LIFETIME


def caller_arn(sts_answer: str) -> str:
    """The caller's ARN in STS's GetCallerIdentity answer (XML); ValueError when it has none."""
    match = _ARN.search(sts_answer)
    if not match:
        raise ValueError("STS did not confirm the identity proof")
    return match.group(1)


def request_id(execution: str) -> str:
    """The offer's id: the execution name (unique within the state machine)."""
    return execution.rsplit(":", 1)[-1]


def make_offer(
    execution: str, model: str, version: str, commit: str, previous: str | None, at: datetime
) -> RollbackRequest | None:
    """The offer of a run that put ``version`` in prod over ``previous``; None for a first
    deployment (nothing to go back to) or when the run replaced its own version."""
    if not previous or previous == version or not model or not version:
        return None
    return RollbackRequest(
        id=request_id(execution),
        execution=execution,
        model=model,
        version=version,
        to_version=previous,
        commit=commit,
        status=RollbackStatus.OFFERED,
        offered_at=at,
    )


def approver_refusal(
    user_id: str, policy: ApprovalPolicy, members: Callable[[str], frozenset[str]]
) -> str | None:
    """None when ``user_id`` is an allowed approver (the approval rules' allow list or group)."""
    if not policy.allowed_users and not policy.allowed_group:
        return "No approvers are configured for this pipeline (APPROVERS / APPROVER_GROUP): nobody may roll back."
    if user_id and user_id in policy.allowed_users:
        return None
    if user_id and policy.allowed_group:
        try:
            if user_id in members(policy.allowed_group):
                return None
        except ChatError as exc:  # fail closed: an unknown group lets nobody in
            return f"The approver group could not be read ({exc.code or exc}); nobody may roll back now."
    return "Only an allowed approver may roll prod back; you are not on the list of approvers."


def moved_on(request: RollbackRequest, current: DeployedState | None) -> str | None:
    """Why prod is no longer the run's to roll back (a newer version was promoted since), or None."""
    if current is not None and current.execution == request.execution and current.version == request.version:
        return None
    now = f"{current.model} v{current.version}" if current else "nothing recorded"
    return (
        f"Refused: prod moved on since this run put {request.model} v{request.version} there "
        f"(prod runs {now}). Nothing was rolled back."
    )


def already_claimed(request: RollbackRequest) -> str:
    """The answer to a second click (or a CLI call) on a claimed offer."""
    by = f" by {request.who}" if request.who != "unknown" else ""
    at = f" at {iso(request.requested_at)}" if request.requested_at else ""
    state = {
        RollbackStatus.REQUESTED: "is under way",
        RollbackStatus.DONE: "was done",
        RollbackStatus.REFUSED: "was refused",
        RollbackStatus.FAILED: "failed",
    }.get(request.status, "was asked for")
    return f"Refused: the rollback of {request.model} v{request.version} {state} (asked{by}{at}). Nothing changed."


@dataclass(frozen=True)
class Claim:
    """What became of a request to roll back; ``message`` goes back to whoever asked."""

    accepted: bool
    message: str
    request: RollbackRequest | None = None


@dataclass(frozen=True)
class Outcome:
    """What the rollback did: ``status`` DONE, REFUSED or FAILED, ``detail`` in words."""

    status: RollbackStatus
    detail: str
    request: RollbackRequest
    from_lambda: str = ""
    to_lambda: str = ""

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "status": self.status.value,
            "detail": self.detail,
            "request_id": r.id,
            "model": r.model,
            "from_version": r.version,
            "to_version": r.to_version,
            "from_lambda_version": self.from_lambda,
            "to_lambda_version": self.to_lambda,
            "requested_by": r.who,
        }


class ProdRollbackService:
    """Offer, claim and carry out a run's prod rollback."""

    def __init__(
        self,
        store: RollbackStore,
        deployed: DeployedStateStore,
        locks: LockStore,
        clock: Clock,
        lock_ttl_seconds: int = 900,
    ) -> None:
        self.store = store
        self.deployed = deployed
        self.locks = locks
        self.clock = clock
        self.lock_ttl_seconds = lock_ttl_seconds

    def claim(
        self,
        request: RollbackRequest | None,
        *,
        user_id: str,
        policy: ApprovalPolicy,
        members: Callable[[str], frozenset[str]],
        via: str,
        reason: str,
        principal: str = "",
        channel: str = "",
        to_version: str = "",
    ) -> Claim:
        """Claim ``request`` for ``user_id``; refusals (not an approver, prod moved on, claimed
        already) change nothing."""
        if request is None:
            return Claim(False, "Refused: no rollback is offered for this run (nothing to go back to).")
        refusal = approver_refusal(user_id, policy, members)
        if refusal:
            return Claim(False, f"Refused: {refusal}", request)
        if request.status is not RollbackStatus.OFFERED:
            return Claim(False, already_claimed(request), request)
        if to_version == request.version:
            return Claim(False, f"Refused: prod already runs {request.model} v{to_version}.", request)
        stale = moved_on(request, self.deployed.get(ENVIRONMENT, request.model))
        if stale:
            return Claim(False, stale, request)
        try:
            claimed = self.store.claim(
                request.id,
                by=user_id,
                principal=principal,
                via=via,
                reason=reason[:REASON_MAX],
                at=self.clock.now(),
                channel=channel,
                to_version=to_version,
            )
        except AlreadyDecidedError as exc:
            current = exc.current if isinstance(exc.current, RollbackRequest) else request
            return Claim(False, already_claimed(current), current)
        return Claim(
            True,
            f"Rolling prod back: {claimed.model} v{claimed.version} -> v{claimed.to_version}. "
            "The run's thread will say when it is done.",
            claimed,
        )

    def execute(
        self,
        request: RollbackRequest,
        deployer: Callable[[], FunctionDeployer],
        registry: Callable[[], ModelRegistry],
    ) -> Outcome:
        """Move prod ``live`` back, record the deployed state, restore the registry; finish the record.

        Under the prod lock of the model: a deploy under way, or prod moved on, refuses it with
        nothing moved. ``deployer`` and ``registry`` are built under the lock (a missing setting
        fails the rollback, it does not leave it REQUESTED). Never raises for a refusal or a
        failure: the outcome (also stored) says it.
        """
        if request.status is not RollbackStatus.REQUESTED:
            # A redelivered invocation, or an offer nobody claimed: nothing to do (again).
            return Outcome(request.status, request.detail or already_claimed(request), request)
        name, owner = lock_name(ENVIRONMENT, request.model), f"rollback-{request.id}"
        try:
            self.locks.acquire(name, owner, self.clock.now(), self.lock_ttl_seconds)
        except DeploymentLockedError as exc:
            return self._finish(
                request, RollbackStatus.REFUSED, f"Refused: a deploy holds prod ({exc}). Nothing moved."
            )
        try:
            return self._under_lock(request, deployer, registry)
        finally:
            self.locks.release(name, owner)

    def _under_lock(
        self,
        request: RollbackRequest,
        deployer: Callable[[], FunctionDeployer],
        registry_of: Callable[[], ModelRegistry],
    ) -> Outcome:
        stale = moved_on(request, self.deployed.get(ENVIRONMENT, request.model))
        if stale:
            return self._finish(request, RollbackStatus.REFUSED, stale)
        try:
            registry = registry_of()
            current_info = registry.get_version(request.model, request.version)
            target_info = registry.get_version(request.model, request.to_version)
        except Exception as exc:
            return self._finish(
                request, RollbackStatus.FAILED, f"Nothing moved: the registry could not be read ({exc})."
            )
        from_lambda = current_info.tags.get(LAMBDA_TAG, "")
        to_lambda = target_info.tags.get(LAMBDA_TAG, "")
        if not to_lambda:
            why = f"{request.model} v{request.to_version} never served prod (no {LAMBDA_TAG} tag)"
            return self._finish(request, RollbackStatus.REFUSED, f"Refused: {why}. Nothing moved.")
        try:
            target = deployer()
            function = target_info.tags.get(FUNCTION_TAG, "")
            if function and function != target.function_name:
                why = f"v{request.to_version} served {function}, not {target.function_name}"
                return self._finish(request, RollbackStatus.REFUSED, f"Refused: {why}. Nothing moved.")
            live = target.current_version()
            if live not in (from_lambda, to_lambda):
                why = f"live serves Lambda v{live}, neither this run's v{from_lambda} nor v{to_lambda}"
                return self._finish(request, RollbackStatus.REFUSED, f"Refused: {why}. Nothing moved.")
            if live != to_lambda:
                target.rollback(to_lambda)
        except Exception as exc:  # DeploymentError, or a ConfigError naming the missing setting
            detail = f"live could not be moved back to Lambda v{to_lambda}: {exc}"
            return self._finish(request, RollbackStatus.FAILED, detail, from_lambda, to_lambda)
        now = self.clock.now()
        self.deployed.put(
            DeployedState(
                environment=ENVIRONMENT,
                commit=target_info.tags.get("git_commit", ""),
                commit_time=0,  # unknown: the next deploy of any commit may replace it
                model=request.model,
                version=request.to_version,
                execution=target_info.tags.get("pipeline_execution", "") or f"rollback-{request.id}",
                deployed_at=now,
            )
        )
        moved = (
            f"prod live back to Lambda v{to_lambda} ({request.model} v{request.to_version}) "
            f"from v{from_lambda} (v{request.version}), by {_shown(request.who)}"
            + (f": {request.reason}" if request.reason else "")
        )
        try:
            registry.set_tags(
                request.model,
                request.version,
                {
                    "rolled_back_by": request.who,
                    "rolled_back_at": iso(now),
                    "rollback_reason": request.reason or "-",
                },
            )
            registry.set_tags(
                request.model, request.to_version, {"restored_by": request.who, "restored_at": iso(now)}
            )
            registry.set_alias(request.model, ALIAS, request.to_version)
        except Exception as exc:
            repair = (
                f"; the registry was not updated ({str(exc)[:200]}): set alias `{ALIAS}` of "
                f"{request.model} to version {request.to_version} by hand"
            )
            return self._finish(request, RollbackStatus.FAILED, moved + repair, from_lambda, to_lambda)
        return self._finish(
            request,
            RollbackStatus.DONE,
            f"{moved}; registry alias `{ALIAS}` -> v{request.to_version}",
            from_lambda,
            to_lambda,
        )

    def _finish(
        self,
        request: RollbackRequest,
        status: RollbackStatus,
        detail: str,
        from_lambda: str = "",
        to_lambda: str = "",
    ) -> Outcome:
        at = self.clock.now()
        try:
            stored = self.store.finish(request.id, status, detail, at)
        except AlreadyDecidedError as exc:  # finished by an earlier attempt: its record stands
            stored = exc.current if isinstance(exc.current, RollbackRequest) else request
            return Outcome(stored.status, stored.detail or detail, stored, from_lambda, to_lambda)
        return Outcome(
            status, detail, stored or replace(request, status=status, detail=detail), from_lambda, to_lambda
        )


def _shown(who: str) -> str:
    """A Slack user id as a mention, anything else (an AWS principal) as is."""
    return f"<@{who}>" if who[:1] in ("U", "W") and who.isalnum() else who
