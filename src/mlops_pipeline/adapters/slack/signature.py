"""Verification of requests signed by Slack (``X-Slack-Signature``, v0 HMAC-SHA256).

slack_sdk's ``SignatureVerifier`` computes the HMAC and compares in constant time; the
timestamp window is checked here with the injected Clock, in both directions, so
the window is configurable and testable.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from slack_sdk.signature import SignatureVerifier

from mlops_pipeline.adapters.slack.errors import BadRequestError, SignatureError
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.ports import Clock

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "raw_body_of", "sign", "verify_request"]

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
_VERSION_PREFIX = "v0="
_MAX_TIMESTAMP_DIGITS = 12  # far beyond any real epoch second; keeps int() cheap


class _AtTimestamp:
    """A slack_sdk clock pinned to the request's own timestamp.

    The window is checked by :func:`verify_request` with the pipeline's Clock, so the
    library's fixed five-minute check must always pass.
    """

    def __init__(self, timestamp: int) -> None:
        self._timestamp = timestamp

    def now(self) -> float:
        return float(self._timestamp)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def verify_request(
    headers: Mapping[str, str],
    raw_body: bytes,
    signing_secret: str,
    clock: Clock,
    max_age_seconds: int = 300,
) -> None:
    """Accept a request signed by Slack or raise SignatureError saying why not.

    Checks, in order: both headers present, numeric timestamp, timestamp within
    ``max_age_seconds`` of ``clock.now()`` (stale or from the future), ``v0=`` version
    prefix, HMAC over ``v0:{timestamp}:{raw body}``. Never logs or returns the secret.
    """
    if not signing_secret or not signing_secret.strip():
        raise ConfigError("the Slack signing secret is empty")
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a number of seconds")
    sent_at = int(timestamp)
    now = clock.now().timestamp()
    age = now - sent_at
    if age > max_age_seconds:
        raise SignatureError(f"request timestamp is {int(age)} s old, outside the {max_age_seconds} s window")
    if -age > max_age_seconds:
        raise SignatureError(
            f"request timestamp is {int(-age)} s in the future, outside the {max_age_seconds} s window"
        )
    if not signature.startswith(_VERSION_PREFIX):
        raise SignatureError("unsupported signature version (expected v0=)")
    if not signature.isascii():
        raise SignatureError("signature mismatch")
    try:
        raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("request body is not UTF-8 (Slack always sends UTF-8)") from None
    verifier = SignatureVerifier(signing_secret, clock=_AtTimestamp(sent_at))  # type: ignore[arg-type]
    if not verifier.is_valid(body=raw_body, timestamp=timestamp, signature=signature):
        raise SignatureError("signature mismatch")


def sign(raw_body: bytes, signing_secret: str, timestamp: int) -> dict[str, str]:
    """The two headers Slack would send with ``raw_body`` at ``timestamp``."""
    verifier = SignatureVerifier(signing_secret)
    signature = verifier.generate_signature(timestamp=str(timestamp), body=raw_body)
    if signature is None:  # only when timestamp is None, which it cannot be here
        raise ValueError("could not sign")
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature}


def raw_body_of(event: Mapping[str, Any]) -> bytes:
    """The raw request body of an API Gateway HTTP API (v2) event, base64-decoded if flagged."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequestError("event body is not a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("event body is flagged base64 but is not valid base64") from None
    return body.encode("utf-8")
