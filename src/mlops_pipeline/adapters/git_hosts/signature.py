"""Verification of a git host's webhook delivery, on the raw body, before anything is parsed.

- GitHub: ``X-Hub-Signature-256`` = ``sha256=`` + hex HMAC-SHA256 of the raw body keyed with
  the webhook secret ("Validating webhook deliveries", docs.github.com).
- GitLab: ``X-Gitlab-Token`` = the secret token itself (GitLab signs nothing: the token proves
  only that the sender knows it, and TLS keeps it secret on the way).

Both compare in constant time (``hmac.compare_digest``; GitLab's token is hashed first so the
comparison does not reveal its length either). The secret never appears in an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from mlops_pipeline.domain.errors import ConfigError, PipelineError

__all__ = [
    "DELIVERY_HEADERS",
    "EVENT_HEADERS",
    "GITHUB_SIGNATURE",
    "GITLAB_TOKEN",
    "BadDeliveryError",
    "WebhookSignatureError",
    "header",
    "raw_body_of",
    "sign",
    "verify",
]

GITHUB_SIGNATURE = "X-Hub-Signature-256"
GITLAB_TOKEN = "X-Gitlab-Token"  # noqa: S105 - a header name, not a secret
DELIVERY_HEADERS = {"github": "X-GitHub-Delivery", "gitlab": "X-Gitlab-Event-UUID"}
EVENT_HEADERS = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
_PREFIX = "sha256="


class WebhookSignatureError(PipelineError):
    """The delivery is not signed with the webhook secret (missing, malformed or wrong)."""


class BadDeliveryError(PipelineError):
    """The request's body cannot be read at all (before any signature check)."""


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value, whatever its case (API Gateway v2 lower-cases them)."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def raw_body_of(event: Mapping[str, Any]) -> bytes:
    """The raw body of an API Gateway HTTP API (v2) event, base64-decoded if flagged."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadDeliveryError("event body is not a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadDeliveryError("event body is flagged base64 but is not valid base64") from None
    return body.encode("utf-8")


def github_signature(raw_body: bytes, secret: str) -> str:
    """GitHub's ``X-Hub-Signature-256`` value of ``raw_body``."""
    return _PREFIX + hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def _check_secret(host: str, secret: str) -> None:
    if host not in DELIVERY_HEADERS:
        raise ConfigError(f"unknown git host {host!r} (github or gitlab)")
    if not secret or not secret.strip():
        raise ConfigError("the webhook secret is empty")


def verify(host: str, headers: Mapping[str, Any], raw_body: bytes, secret: str) -> None:
    """Accept a delivery signed with ``secret`` by ``host`` or raise WebhookSignatureError."""
    _check_secret(host, secret)
    if host == "github":
        given = header(headers, GITHUB_SIGNATURE)
        if not given:
            raise WebhookSignatureError(f"missing {GITHUB_SIGNATURE} header")
        given = given.strip()
        if not given.startswith(_PREFIX) or not given.isascii():
            raise WebhookSignatureError(f"{GITHUB_SIGNATURE} is not sha256=<hex>")
        expected = github_signature(raw_body, secret)
        if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii")):
            raise WebhookSignatureError("signature mismatch")
        return
    token = header(headers, GITLAB_TOKEN)
    if not token:
        raise WebhookSignatureError(f"missing {GITLAB_TOKEN} header")
    digest = hashlib.sha256
    if not hmac.compare_digest(
        digest(token.encode("utf-8")).digest(), digest(secret.encode("utf-8")).digest()
    ):
        raise WebhookSignatureError("token mismatch")


def sign(host: str, raw_body: bytes, secret: str) -> dict[str, str]:
    """The authentication header ``host`` sends with ``raw_body`` (the local remote, tests)."""
    _check_secret(host, secret)
    if host == "github":
        return {GITHUB_SIGNATURE: github_signature(raw_body, secret)}
    return {GITLAB_TOKEN: secret}
