"""The Slack checks with a fake Web API client, the API URL rule, and the summary line."""

from __future__ import annotations

from typing import Any, cast

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from mlops_pipeline.doctor.inputs import DoctorInputs
from mlops_pipeline.doctor.result import CheckResult, Status, any_failed, summary
from mlops_pipeline.doctor.run import slack_results
from mlops_pipeline.doctor.slack_checks import (
    api_url_problem,
    check_slack_auth,
    check_slack_channel,
    slack_client,
)

TOKEN = "xoxb-unit-test-token"


class FakeResponse(dict[str, Any]):
    @property
    def data(self) -> dict[str, Any]:
        return dict(self)


class FakeSlack:
    """Answers like WebClient: a response, or SlackApiError for ``ok: false``."""

    base_url = "https://slack.test/api/"

    def __init__(
        self, token: str = TOKEN, auth: dict[str, Any] | None = None, info: dict[str, Any] | None = None
    ):
        self.token = token
        self.auth = auth or {
            "ok": True,
            "team": "Acme",
            "team_id": "T1",
            "user": "mlops-pipeline",
            "user_id": "U1",
        }
        self.info = info or {"ok": True, "channel": {"id": "C1", "name": "runs", "is_member": True}}
        self.calls: list[str] = []

    def _answer(self, method: str, body: dict[str, Any]) -> FakeResponse:
        self.calls.append(method)
        if not body.get("ok"):
            raise SlackApiError(f"The request to the Slack API failed. ({method})", FakeResponse(body))
        return FakeResponse(body)

    def auth_test(self) -> FakeResponse:
        return self._answer("auth.test", self.auth)

    def conversations_info(self, channel: str) -> FakeResponse:
        return self._answer("conversations.info", self.info)


def web(fake: FakeSlack) -> WebClient:
    return cast(WebClient, fake)


def test_auth_passes_and_names_the_bot() -> None:
    result, identity = check_slack_auth(web(FakeSlack()))

    assert (
        result.status is Status.PASS
        and "mlops-pipeline (U1)" in result.detail
        and "Acme (T1)" in result.detail
    )
    assert identity is not None and identity["user"] == "mlops-pipeline"


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_auth_refused_fails_with_the_token_fix(error: str) -> None:
    result, identity = check_slack_auth(web(FakeSlack(auth={"ok": False, "error": error})))

    assert result.status is Status.FAIL and error in result.detail and "Bot User OAuth Token" in result.fix
    assert identity is None and TOKEN not in result.detail + result.fix


def test_a_user_token_is_refused_before_any_call() -> None:
    fake = FakeSlack(token="xoxp-user-token")
    result, _ = check_slack_auth(web(fake))

    assert result.status is Status.FAIL and fake.calls == []
    assert "xoxp-user-token" not in result.detail


@pytest.mark.parametrize(
    ("info", "status", "words"),
    [
        (
            {"ok": True, "channel": {"id": "C1", "name": "runs", "is_member": True}},
            Status.PASS,
            "member of #runs",
        ),
        (
            {"ok": True, "channel": {"id": "C1", "name": "runs", "is_member": False}},
            Status.FAIL,
            "not a member",
        ),
        ({"ok": True, "channel": {"id": "C1", "name": "runs", "is_archived": True}}, Status.FAIL, "archived"),
        ({"ok": True, "channel": {"id": "C1", "name": "runs"}}, Status.WARN, "did not say"),
        (
            {"ok": False, "error": "missing_scope", "needed": "channels:read"},
            Status.WARN,
            "lacks channels:read",
        ),
        ({"ok": False, "error": "channel_not_found"}, Status.FAIL, "C1 not found"),
        ({"ok": False, "error": "ratelimited"}, Status.WARN, "ratelimited"),
    ],
)
def test_channel_membership(info: dict[str, Any], status: Status, words: str) -> None:
    result = check_slack_channel(web(FakeSlack(info=info)), "C1", "mlops-pipeline")

    assert result.status is status and words in result.detail, result
    if status is not Status.PASS:
        assert result.fix


def test_no_channel_configured_fails() -> None:
    assert check_slack_channel(web(FakeSlack()), "").status is Status.FAIL


def test_slack_results_skip_the_channel_after_a_bad_token() -> None:
    fake = FakeSlack(auth={"ok": False, "error": "invalid_auth"})
    inputs = DoctorInputs("us-east-1", "222222222222", "333333333333", "Admin", slack_channel="C1")

    auth, channel = slack_results(inputs, web(fake))

    assert (auth.status, channel.status) == (Status.FAIL, Status.SKIP)
    assert fake.calls == ["auth.test"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://slack.com/api/", True),
        ("http://127.0.0.1:8990/api/", True),
        ("http://localhost:8990/api/", True),
        ("http://[::1]:8990/api/", True),
        ("http://slack.example.com/api/", False),
        ("ftp://slack.com/api/", False),
        ("https:///api/", False),
    ],
)
def test_api_url_rule(url: str, allowed: bool) -> None:
    assert (api_url_problem(url) is None) is allowed


def test_slack_client_base_url_ends_in_a_slash() -> None:
    assert slack_client(TOKEN, "http://127.0.0.1:1/api").base_url == "http://127.0.0.1:1/api/"


def test_summary_and_any_failed() -> None:
    results = [
        CheckResult("a", Status.PASS, ""),
        CheckResult("b", Status.PASS, ""),
        CheckResult("c", Status.WARN, "", "fix"),
        CheckResult("d", Status.SKIP, ""),
    ]
    assert summary(results) == "2 passed, 1 warning, 1 skipped"
    assert not any_failed(results)
    results.append(CheckResult("e", Status.FAIL, "", "fix"))
    assert summary(results) == "2 passed, 1 warning, 1 failed, 1 skipped"
    assert any_failed(results)
