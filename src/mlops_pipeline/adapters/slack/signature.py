"""Verification of requests signed by Slack (``X-Slack-Signature``, v0 HMAC-SHA256).

The expected signature is Slack's v0 scheme, ``v0=`` + hex HMAC-SHA256 of
``v0:{timestamp}:{raw body}`` keyed with the signing secret, computed with the standard
library (what slack_sdk's ``SignatureVerifier.generate_signature`` computes; a unit test holds
the two equal): importing anything of slack_sdk loads its Web API client, which the
interactions endpoint must not pay for before it knows the request is Slack's. The timestamp
window is checked here with the injected Clock, in both directions (so it is configurable and
testable), and the signatures are compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from mlops_pipeline.adapters.slack.errors import BadRequestError, SignatureError
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.ports import Clock

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "raw_body_of", "sign", "verify_request"]

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
_VERSION_PREFIX = "v0="
_MAX_TIMESTAMP_DIGITS = 12  # far beyond any real epoch second; keeps int() cheap


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def _timestamp(text: str) -> int:
    """The request's epoch second; SignatureError unless it is a plain, bounded number."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a number of seconds")
    return int(text)


def _check_window(sent_at: int, clock: Clock, max_age_seconds: int) -> None:
    """SignatureError if ``sent_at`` is more than ``max_age_seconds`` before or after now."""
    age = clock.now().timestamp() - sent_at
    if age > max_age_seconds:
        raise SignatureError(f"request timestamp is {int(age)} s old, outside the {max_age_seconds} s window")
    if -age > max_age_seconds:
        raise SignatureError(
            f"request timestamp is {int(-age)} s in the future, outside the {max_age_seconds} s window"
        )


def _check_signature(signature: str, timestamp: str, raw_body: bytes, signing_secret: str) -> None:
    """SignatureError unless ``signature`` is the v0 HMAC of ``v0:{timestamp}:{raw body}``."""
    if not signature.startswith(_VERSION_PREFIX):
        raise SignatureError("unsupported signature version (expected v0=)")
    if not signature.isascii():
        raise SignatureError("signature mismatch")
    try:
        raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("request body is not UTF-8 (Slack always sends UTF-8)") from None
    expected = _signature(signing_secret, timestamp, raw_body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise SignatureError("signature mismatch")


def _signature(signing_secret: str, timestamp: str, raw_body: bytes) -> str:
    """Slack's v0 signature of ``raw_body`` sent at ``timestamp``."""
    base = b"v0:" + timestamp.encode("utf-8") + b":" + raw_body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return _VERSION_PREFIX + digest


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
    _check_window(_timestamp(timestamp), clock, max_age_seconds)
    _check_signature(signature, timestamp, raw_body, signing_secret)


def sign(raw_body: bytes, signing_secret: str, timestamp: int) -> dict[str, str]:
    """The two headers Slack would send with ``raw_body`` at ``timestamp``."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: _signature(signing_secret, str(timestamp), raw_body),
    }


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
