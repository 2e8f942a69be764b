"""IAM enforcement for untrusted roles: their requests are authorised as AWS would.

moto enforces no IAM unless every caller is checked (``INITIAL_NO_AUTH_ACTION_COUNT``), and the
pipeline's own parts rely on that. A role tagged ``mlops:untrusted = "true"`` (the training
step's, which runs the model author's ``train.py``) is different: a call AWS would deny it must
fail locally too, or a hostile ``train.py`` reads a secret on the emulator that it never could on
AWS. So a request signed with an STS session of such a role runs moto's own checks: the SigV4
signature of a signed header (``check_signature``; SigV2 and presigned URLs, which moto cannot
verify, get the policy check only) and ``check_action_permitted`` against the role's inline and
attached policies. Every other caller stays unchecked. moto's coverage applies: it matches
actions and resources (``*`` where the service gives none), not conditions or resource policies.

The prod rollback's identity proof (a SigV4-signed STS ``GetCallerIdentity`` that signs the
``x-mlops-rollback-function`` header, see ``domain/prod_rollback.py``) is verified too, by any
caller: moto answers GetCallerIdentity for any signature, AWS only for a valid one, and the
rollback function's refusal of a forged or altered proof rests on that. Its signature is
checked with moto's ``check_signature`` (an unknown key: ``InvalidClientTokenId``; a wrong
secret or a header changed after signing: ``SignatureDoesNotMatch``), and so is its age (signed
more than 15 minutes from the clock: ``SignatureDoesNotMatch``, "Signature expired"), as AWS answers.

A denial is moto's: S3's ``AccessDenied`` XML, and ``AccessDenied`` ("User: <session arn> is not
authorized to perform: <action>") for the query protocols (STS, IAM, SNS); the JSON-protocol
services (Secrets Manager, DynamoDB, Logs...) answer ``AccessDeniedException`` as JSON, as AWS
does, since moto's XML reaches their clients as a bare 403. A session used in another account
than its role's (moto's ``x-moto-account-id``, or a SigV4 presigned URL, which moto places in its
default account) is denied: AWS would need a resource policy there, which moto does not evaluate.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from moto.core.exceptions import _RESTError

from mlops_pipeline.domain.prod_rollback import AMZ_DATE_FORMAT, signs_audience

UNTRUSTED_TAG = "mlops:untrusted"

_lock = threading.Lock()
_installed = False
_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_SIGV2_KEY = re.compile(r"AWS ([^:\s]+):")


def install() -> None:
    """Wrap moto's per-request authorisation (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.core.authorization import ActionAuthenticatorMixin

        original = ActionAuthenticatorMixin._authenticate_and_authorize_action

        def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
            from moto import settings

            everyone_checked = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
            if not everyone_checked and _identity_proof(self):
                _check_proof_signature(self, iam_request_cls)
                return
            if not everyone_checked:
                untrusted = _untrusted_request(self)
                if untrusted is not None:
                    _check(self, iam_request_cls, resource, *untrusted)
                    return
            original(self, iam_request_cls, resource)

        authorize.__wrapped__ = original  # type: ignore[attr-defined]
        ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
        _installed = True


def untrusted_role(role: Any) -> bool:
    """Whether an IAM role (moto's model) carries ``mlops:untrusted = "true"``."""
    return any(
        tag.get("Key") == UNTRUSTED_TAG and str(tag.get("Value", "")).lower() == "true"
        for tag in getattr(role, "tags", None) or []
    )


def _session_role(access_key_id: str) -> tuple[str, Any] | None:
    """(account, role) of the STS session that owns the key; None for any other key."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key_id)
    session = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key_id)
    if session is None:
        return None
    try:
        return account, iam_backends[account]["aws"].get_role_by_arn(session.role_arn)
    except NotFoundException:  # moto lets a session name a role that does not exist: no policy
        return None


def _query(response: Any, name: str) -> str | None:
    """A query parameter, its name matched case-insensitively (presigned URLs vary the case)."""
    for key, values in response.querystring.items():
        if key.lower() == name.lower() and values:
            return str(values[0])
    return None


def _request_key(response: Any) -> str | None:
    """The access key that signed the request: SigV4 or SigV2, header or presigned URL."""
    authorization = response.headers.get("Authorization", "")
    match = _SIGV4_CREDENTIAL.search(authorization) or _SIGV2_KEY.match(authorization)
    if match:
        return match.group(1)
    credential = _query(response, "X-Amz-Credential")
    return credential.split("/", 1)[0] if credential else _query(response, "AWSAccessKeyId")


def _identity_proof(response: Any) -> bool:
    """Whether the request is an STS GetCallerIdentity that signs the rollback proof's audience header."""
    return signs_audience(response.headers.get("Authorization", "")) and (
        str(response._get_action()) == "GetCallerIdentity"
    )


def _check_proof_signature(response: Any, iam_request_cls: type) -> None:
    """moto's SigV4 check of an identity proof, in the account of the key that signed it."""
    from moto.iam.models import get_account_id_from

    headers = {name: value for name, value in response.headers.items()}
    key = _SIGV4_CREDENTIAL.search(headers["Authorization"])
    account = get_account_id_from(key.group(1)) if key else response.current_account
    request = _iam_request(response, iam_request_cls, headers, account)
    request.check_signature()  # GetCallerIdentity needs no permission: AWS allows it always
    _check_signature_age(headers.get("X-Amz-Date", ""))


# AWS refuses a SigV4 request signed more than 15 minutes from its own clock (moto never does).
SIGNATURE_MAX_SKEW = timedelta(minutes=15)


class _SignatureExpiredError(_RESTError):
    code = 403

    def __init__(self, signed: str, now: datetime) -> None:
        super().__init__(
            "SignatureDoesNotMatch",
            f"Signature expired: {signed} is now earlier than "
            f"{(now - SIGNATURE_MAX_SKEW).strftime(AMZ_DATE_FORMAT)} "
            f"({now.strftime(AMZ_DATE_FORMAT)} - 15 min.)",
        )


def _check_signature_age(amz_date: str) -> None:
    now = datetime.now(UTC)
    try:
        signed = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _SignatureExpiredError(amz_date or "(no X-Amz-Date)", now) from None
    if abs(now - signed) > SIGNATURE_MAX_SKEW:
        raise _SignatureExpiredError(amz_date, now)


def _untrusted_request(response: Any) -> tuple[dict[str, str], str, bool] | None:
    """(headers, role account, SigV4-signed headers) when an untrusted role's session signed it.

    moto's IAM request reads the key, region and service from a SigV4 ``Authorization``
    header; for the other forms (SigV2, presigned URLs) one is written from what the request
    carries, and only the policy is checked.
    """
    key = _request_key(response)
    owner = _session_role(key) if key else None
    if owner is None or not untrusted_role(owner[1]):
        return None
    headers = {name: value for name, value in response.headers.items()}
    if _SIGV4_CREDENTIAL.search(headers.get("Authorization", "")):
        return headers, owner[0], True
    scope = _query(response, "X-Amz-Credential") or f"{key}/19700101/{response.region}/s3/aws4_request"
    headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature="
    token = headers.get("X-Amz-Security-Token") or _query(response, "X-Amz-Security-Token")
    if token:
        headers["X-Amz-Security-Token"] = token
    return headers, owner[0], False


def _check(
    response: Any, iam_request_cls: type, resource: str, headers: dict[str, str], account: str, sigv4: bool
) -> None:
    """moto's own checks, as ``_authenticate_and_authorize_action`` runs them for every caller."""
    request = _iam_request(response, iam_request_cls, headers, account)
    try:
        if sigv4:
            request.check_signature()
        if response.current_account != account:
            request._raise_access_denied()
        request.check_action_permitted(resource)
    except _RESTError as error:
        if iam_request_cls.__name__ == "S3IAMRequest" or "Action" in response.querystring:
            raise  # S3 and the query protocols (STS, IAM, SNS): moto's XML is what AWS sends
        raise _json_error(error) from None


def _iam_request(response: Any, iam_request_cls: type, headers: dict[str, str], account: str) -> Any:
    """moto's IAM request of ``response`` (as moto builds it for its own checks), in ``account``."""
    parsed = urlparse(response.uri)
    return iam_request_cls(
        account_id=account,
        method=response.method,
        path=response.raw_path + (f"?{parsed.query}" if parsed.query else ""),
        data=response.data,
        body=response.raw_body,
        headers=headers,
        action=response._get_action(),
    )


# What AWS's JSON-protocol services call moto's (query-protocol) authorisation errors.
_JSON_ERRORS = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}


def _json_error(error: Any) -> Any:
    """The JSON error a JSON-protocol service answers (moto's XML reaches its client as a bare 403)."""
    from moto.core.exceptions import JsonRESTError

    converted = JsonRESTError(_JSON_ERRORS.get(error.error_type, error.error_type), error.message)
    converted.code = error.code
    return converted
