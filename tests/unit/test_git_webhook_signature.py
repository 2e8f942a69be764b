"""Verifying a git host's delivery: each host's documented example, forgeries, constant-time compares."""

from __future__ import annotations

import hmac

import pytest

from mlops_pipeline.adapters.git_hosts import signature
from mlops_pipeline.adapters.git_hosts.signature import WebhookSignatureError, sign, verify
from mlops_pipeline.domain.errors import ConfigError

# docs.github.com, "Validating webhook deliveries", "Testing the webhook payload validation".
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_s_documented_example_verifies() -> None:
    assert signature.github_signature(GITHUB_PAYLOAD, GITHUB_SECRET) == GITHUB_SIGNATURE
    verify("github", {"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_PAYLOAD, GITHUB_SECRET)
    # Header names are case-insensitive; hex digits may come upper-case.
    verify(
        "github",
        {"X-Hub-Signature-256": GITHUB_SIGNATURE.upper().replace("SHA256", "sha256")},
        GITHUB_PAYLOAD,
        GITHUB_SECRET,
    )


@pytest.mark.parametrize(
    ("headers", "body", "secret"),
    [
        ({"x-hub-signature-256": GITHUB_SIGNATURE}, b"Hello, World?", GITHUB_SECRET),  # tampered body
        ({"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_PAYLOAD, "another secret"),  # other secret
        ({"x-hub-signature-256": GITHUB_SIGNATURE[:-1] + "0"}, GITHUB_PAYLOAD, GITHUB_SECRET),
        ({"x-hub-signature-256": GITHUB_SIGNATURE.removeprefix("sha256=")}, GITHUB_PAYLOAD, GITHUB_SECRET),
        # The SHA-1 header GitHub also sends is not accepted in place of SHA-256.
        ({"x-hub-signature": "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"}, GITHUB_PAYLOAD, GITHUB_SECRET),
        ({}, GITHUB_PAYLOAD, GITHUB_SECRET),
        ({"x-hub-signature-256": "sha256=é"}, GITHUB_PAYLOAD, GITHUB_SECRET),
    ],
)
def test_a_forged_github_delivery_is_refused(headers: dict[str, str], body: bytes, secret: str) -> None:
    with pytest.raises(WebhookSignatureError):
        verify("github", headers, body, secret)


def test_gitlab_s_token_is_the_secret_itself() -> None:
    # docs.gitlab.com, "Webhooks": GitLab sends the configured secret token in X-Gitlab-Token.
    verify("gitlab", {"x-gitlab-token": "my-secret-token"}, b"{}", "my-secret-token")
    for headers in (
        {"x-gitlab-token": "my-secret-tokeN"},
        {"x-gitlab-token": ""},
        {},
        {"x-gitlab-token": "my-secret"},
    ):
        with pytest.raises(WebhookSignatureError):
            verify("gitlab", headers, b"{}", "my-secret-token")


def test_both_hosts_compare_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    verify("github", {"x-hub-signature-256": GITHUB_SIGNATURE}, GITHUB_PAYLOAD, GITHUB_SECRET)
    verify("gitlab", {"x-gitlab-token": "t0ken"}, b"", "t0ken")
    assert len(calls) == 2
    # GitLab's token is hashed first: the comparison does not reveal its length.
    assert len(calls[1][0]) == len(calls[1][1]) == 32


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_sign_produces_what_verify_accepts(host: str) -> None:
    verify(host, sign(host, b'{"a": 1}', "s3cret"), b'{"a": 1}', "s3cret")


@pytest.mark.parametrize(("host", "secret"), [("github", ""), ("gitlab", "  "), ("bitbucket", "s")])
def test_an_empty_secret_or_unknown_host_is_a_configuration_error(host: str, secret: str) -> None:
    with pytest.raises(ConfigError):
        verify(host, {"x-gitlab-token": secret, "x-hub-signature-256": "sha256=00"}, b"", secret)
