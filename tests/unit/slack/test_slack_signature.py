"""Slack request signatures: Slack's published example, windows, forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from mlops_pipeline.adapters.slack.errors import BadRequestError, SignatureError
from mlops_pipeline.adapters.slack.signature import raw_body_of, sign, verify_request
from mlops_pipeline.domain.errors import ConfigError
from tests.fakes import FakeClock

# Slack's documented example ("Verifying requests from Slack", docs.slack.dev): the
# signing secret, timestamp, slash-command body and the signature Slack publishes for them.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = 1531420618
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "local-signing-secret"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def at(epoch: float) -> FakeClock:
    return FakeClock(datetime.fromtimestamp(epoch, UTC))


def doc_headers(**override: str) -> dict[str, str]:
    headers = {"X-Slack-Request-Timestamp": str(DOC_TIMESTAMP), "X-Slack-Signature": DOC_SIGNATURE}
    headers.update(override)
    return headers


def test_slacks_documented_example_verifies() -> None:
    verify_request(doc_headers(), DOC_BODY, DOC_SECRET, at(DOC_TIMESTAMP + 10))


def test_sign_reproduces_slacks_documented_signature() -> None:
    assert sign(DOC_BODY, DOC_SECRET, DOC_TIMESTAMP)["X-Slack-Signature"] == DOC_SIGNATURE


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        (DOC_SECRET, DOC_BODY),
        (SECRET, BODY),
        (SECRET, b""),
        ("s\u00e9cret-\u00fcnicode", "payload=%7B%22text%22%3A%22caf\u00e9 \u2713%22%7D".encode()),
    ],
)
def test_signature_is_the_one_slack_sdk_computes(secret: str, body: bytes) -> None:
    # Computed with the standard library (no slack_sdk import on the click path): same bytes.
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(secret)
    expected = verifier.generate_signature(timestamp=str(DOC_TIMESTAMP), body=body)
    headers = sign(body, secret, DOC_TIMESTAMP)
    assert headers["X-Slack-Signature"] == expected
    verify_request(headers, body, secret, at(DOC_TIMESTAMP))


def test_headers_are_case_insensitive() -> None:
    headers = {"x-slack-request-timestamp": str(DOC_TIMESTAMP), "X-SLACK-SIGNATURE": DOC_SIGNATURE}
    verify_request(headers, DOC_BODY, DOC_SECRET, at(DOC_TIMESTAMP))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Slack-Request-Timestamp"),
        ({"X-Slack-Signature": DOC_SIGNATURE}, "missing X-Slack-Request-Timestamp"),
        ({"X-Slack-Request-Timestamp": str(DOC_TIMESTAMP)}, "missing X-Slack-Signature"),
        (doc_headers(**{"X-Slack-Request-Timestamp": "soon"}), "not a number"),
        (doc_headers(**{"X-Slack-Request-Timestamp": "-1531420618"}), "not a number"),
        (doc_headers(**{"X-Slack-Request-Timestamp": "1" * 40}), "not a number"),
        (doc_headers(**{"X-Slack-Signature": "v1=" + DOC_SIGNATURE[3:]}), "version"),
        (doc_headers(**{"X-Slack-Signature": DOC_SIGNATURE[3:]}), "version"),
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_request(headers, DOC_BODY, DOC_SECRET, at(DOC_TIMESTAMP))


def test_forged_body_is_refused() -> None:
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(
            doc_headers(), DOC_BODY.replace(b"roadrunner", b"coyote"), DOC_SECRET, at(DOC_TIMESTAMP)
        )


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(doc_headers(), DOC_BODY, "another-secret", at(DOC_TIMESTAMP))


def test_forged_signature_is_refused() -> None:
    forged = (
        "v0=" + hmac.new(b"guess", f"v0:{DOC_TIMESTAMP}:".encode() + DOC_BODY, hashlib.sha256).hexdigest()
    )
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(doc_headers(**{"X-Slack-Signature": forged}), DOC_BODY, DOC_SECRET, at(DOC_TIMESTAMP))


def test_unsigned_request_is_refused() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify_request({"Content-Type": "application/x-www-form-urlencoded"}, BODY, SECRET, at(1_800_000_000))


def test_stale_request_is_refused_just_past_the_window() -> None:
    now = 1_800_000_000
    headers = sign(BODY, SECRET, now - 300)
    verify_request(headers, BODY, SECRET, at(now))  # exactly at the edge: accepted
    with pytest.raises(SignatureError, match="old"):
        verify_request(headers, BODY, SECRET, at(now + 1))


def test_request_from_the_future_is_refused() -> None:
    now = 1_800_000_000
    headers = sign(BODY, SECRET, now + 301)
    with pytest.raises(SignatureError, match="future"):
        verify_request(headers, BODY, SECRET, at(now))
    verify_request(sign(BODY, SECRET, now + 300), BODY, SECRET, at(now))


def test_replay_of_a_captured_request_with_its_old_timestamp_is_refused() -> None:
    sent = 1_800_000_000
    captured = sign(BODY, SECRET, sent)
    verify_request(captured, BODY, SECRET, at(sent + 5))  # the original delivery
    with pytest.raises(SignatureError, match="outside the 300 s window"):
        verify_request(captured, BODY, SECRET, at(sent + 3600))  # the replay an hour later


def test_replay_with_a_fresh_timestamp_but_the_old_signature_is_refused() -> None:
    sent = 1_800_000_000
    captured = sign(BODY, SECRET, sent)
    replay = {**captured, "X-Slack-Request-Timestamp": str(sent + 3600)}
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(replay, BODY, SECRET, at(sent + 3600))


def test_window_is_configurable() -> None:
    now = 1_800_000_000
    headers = sign(BODY, SECRET, now - 90)
    verify_request(headers, BODY, SECRET, at(now), max_age_seconds=120)
    with pytest.raises(SignatureError, match="60 s window"):
        verify_request(headers, BODY, SECRET, at(now), max_age_seconds=60)


def test_window_wider_than_slack_sdks_own_five_minutes_is_honoured() -> None:
    # The window is ours (the injected Clock), not slack_sdk's fixed one.
    now = 1_800_000_000
    for sent in (now - 900, now + 900):
        verify_request(sign(BODY, SECRET, sent), BODY, SECRET, at(now), max_age_seconds=900)


@pytest.mark.parametrize("cut", [1, 10, 64])
def test_truncated_or_padded_signature_is_a_mismatch(cut: int) -> None:
    signature = DOC_SIGNATURE[:-cut]
    for forged in (signature, DOC_SIGNATURE + "0" * cut):
        with pytest.raises(SignatureError, match="mismatch"):
            verify_request(
                doc_headers(**{"X-Slack-Signature": forged}), DOC_BODY, DOC_SECRET, at(DOC_TIMESTAMP)
            )


def test_non_utf8_body_is_refused() -> None:
    body = b"payload=\xff\xfe"
    headers = {"X-Slack-Request-Timestamp": "1800000000", "X-Slack-Signature": "v0=" + "0" * 64}
    with pytest.raises(SignatureError, match="UTF-8"):
        verify_request(headers, body, SECRET, at(1_800_000_000))


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    headers = {"X-Slack-Request-Timestamp": "1800000000", "X-Slack-Signature": "v0=é" + "0" * 63}
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(headers, BODY, SECRET, at(1_800_000_000))


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        verify_request(doc_headers(), DOC_BODY, " ", at(DOC_TIMESTAMP))


def test_error_messages_never_contain_the_secret() -> None:
    for headers in ({}, doc_headers(**{"X-Slack-Signature": "v0=00"}), sign(BODY, SECRET, 1)):
        with pytest.raises(SignatureError) as info:
            verify_request(headers, BODY, SECRET, at(1_800_000_000))
        assert SECRET not in str(info.value)


def test_base64_encoded_body_verifies_after_decoding() -> None:
    now = 1_800_000_000
    event = {
        "headers": sign(DOC_BODY, DOC_SECRET, now),
        "body": base64.b64encode(DOC_BODY).decode(),
        "isBase64Encoded": True,
    }
    raw = raw_body_of(event)
    assert raw == DOC_BODY
    verify_request(event["headers"], raw, DOC_SECRET, at(now))
    # The still-encoded text is not what Slack signed.
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(event["headers"], event["body"].encode(), DOC_SECRET, at(now))


def test_plain_body_is_taken_as_utf8() -> None:
    assert raw_body_of({"body": "payload=é", "isBase64Encoded": False}) == "payload=é".encode()
    assert raw_body_of({}) == b""


@pytest.mark.parametrize("event", [{"body": "%%%not base64", "isBase64Encoded": True}, {"body": 12}])
def test_bad_event_body_is_a_bad_request(event: dict[str, object]) -> None:
    with pytest.raises(BadRequestError):
        raw_body_of(event)
