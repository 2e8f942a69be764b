"""Inbox clicks reach the interactions endpoint signed exactly like Slack signs them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from mlops_pipeline.adapters.slack import views
from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.adapters.slack.errors import SignatureError
from mlops_pipeline.adapters.slack.interactions import parse_block_action
from mlops_pipeline.adapters.slack.signature import verify_request
from mlops_pipeline.domain.models import Approval, ApprovalStatus, MessageRef
from mlops_pipeline.local.stack.slack_standin import LocalSlackError, LocalSlackServer

pytestmark = pytest.mark.functional

CHANNEL = "C0PIPELINE"
APPROVAL_ID = "appr_0123456789abcdef"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def approval() -> Approval:
    now = datetime.now(UTC)
    return Approval(
        id=APPROVAL_ID,
        task_token="tt",
        execution="arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1",
        model="churn",
        version="2",
        commit="0123456789abcdef",
        author="author@example.com",
        requested_at=now,
        expires_at=now + timedelta(days=1),
    )


def post_card(notifier: SlackNotifier) -> MessageRef:
    evaluation = {"metric": "rmse", "direction": "lower", "candidate": 0.4, "champion": 0.5, "passed": True}
    root = notifier.post(CHANNEL, "run header")
    text, blocks = views.approval_card(approval(), evaluation, {"latency_ms": 10, "rows": 3})
    return notifier.post(CHANNEL, text, blocks, thread_ts=root.ts)


def test_click_reaches_the_receiver_signed_and_parseable(
    slack: LocalSlackServer, notifier: SlackNotifier, receiver: Any, signing_secret: str
) -> None:
    card = post_card(notifier)
    slack.interactions_url = receiver.url
    receiver.status, receiver.reply = 200, b'{"text": "approved"}'

    status, body = slack.click(card.ts, "approve", "U0APPROVER")

    assert (status, body) == (200, '{"text": "approved"}')
    (request,) = receiver.requests
    assert request.path == "/slack/interactions"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # slack_sdk's own verifier accepts it, and so does ours.
    assert SignatureVerifier(signing_secret).is_valid_request(request.body, request.headers)
    verify_request(request.headers, request.body, signing_secret, SystemClock())
    assert not SignatureVerifier("another-secret").is_valid_request(request.body, request.headers)
    with pytest.raises(SignatureError, match="mismatch"):
        verify_request(request.headers, request.body + b"x", signing_secret, SystemClock())

    action = parse_block_action(request.body)
    assert (action.action_id, action.approval_id, action.user_id) == ("approve", APPROVAL_ID, "U0APPROVER")
    assert (action.user_name, action.team_id, action.channel_id, action.message_ts) == (
        "approver",
        "T0LOCAL",
        CHANNEL,
        card.ts,
    )

    payload = json.loads(parse_qs(request.body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"]["message_ts"] == card.ts
    assert payload["message"]["ts"] == card.ts
    assert payload["actions"][0]["block_id"] == views.APPROVAL_ACTIONS_BLOCK_ID
    assert payload["actions"][0]["type"] == "button"
    assert payload["trigger_id"]
    assert slack.clicks()[-1]["status"] == 200


def test_reject_click_and_endpoint_errors_are_passed_back(
    slack: LocalSlackServer, notifier: SlackNotifier, receiver: Any
) -> None:
    card = post_card(notifier)
    slack.interactions_url = receiver.url
    receiver.status, receiver.reply = 403, b"not an approver"
    assert slack.click(card.ts, "reject", "U0OTHER") == (403, "not an approver")
    assert parse_block_action(receiver.requests[0].body).action_id == "reject"


def test_clicks_that_cannot_happen_are_refused(
    slack: LocalSlackServer, notifier: SlackNotifier, receiver: Any
) -> None:
    card = post_card(notifier)
    with pytest.raises(LocalSlackError, match="interactions_url is not set"):
        slack.click(card.ts, "approve", "U0APPROVER")
    slack.interactions_url = receiver.url
    with pytest.raises(LocalSlackError, match="no message"):
        slack.click("1.000001", "approve", "U0APPROVER")
    with pytest.raises(LocalSlackError, match="no user"):
        slack.click(card.ts, "approve", "U0NOBODY")
    with pytest.raises(LocalSlackError, match="no button"):
        slack.click(card.ts, "deploy_everything", "U0APPROVER")

    decided = approval().with_status(ApprovalStatus.APPROVED, "U0APPROVER", datetime.now(UTC))
    notifier.update(card, *views.decided_card(decided))
    with pytest.raises(LocalSlackError, match="no button"):  # buttons are gone once decided
        slack.click(card.ts, "approve", "U0APPROVER")
    assert receiver.requests == []


def test_unreachable_endpoint_is_reported(slack: LocalSlackServer, notifier: SlackNotifier) -> None:
    card = post_card(notifier)
    slack.interactions_url = "http://127.0.0.1:9/nothing-listens-here"
    with pytest.raises(LocalSlackError, match="unreachable"):
        slack.click(card.ts, "approve", "U0APPROVER")


def _post_json(url: str, data: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_inbox_button_posts_the_click(
    slack: LocalSlackServer, notifier: SlackNotifier, receiver: Any
) -> None:
    card = post_card(notifier)
    slack.interactions_url = receiver.url
    receiver.reply = b"thanks"
    click = {"message_ts": card.ts, "action_id": "approve", "user_id": "U0APPROVER"}

    assert _post_json(slack.url + "_inbox/click", click) == (
        200,
        {"ok": True, "status": 200, "body": "thanks"},
    )
    assert len(receiver.requests) == 1

    # Another web site in the same browser cannot click for the user.
    status, _ = _post_json(slack.url + "_inbox/click", click, {"Origin": "https://evil.example"})
    assert status == 403
    form = urllib.request.Request(
        slack.url + "_inbox/click", data=b"message_ts=1&action_id=approve&user_id=U0APPROVER", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(form, timeout=5)
    assert info.value.code == 403
    status, data = _post_json(slack.url + "_inbox/click", {**click, "action_id": "nope"})
    assert status == 409 and "no button" in data["error"]
    assert len(receiver.requests) == 1


def test_response_url_replaces_the_original(
    slack: LocalSlackServer, notifier: SlackNotifier, receiver: Any
) -> None:
    card = post_card(notifier)
    slack.interactions_url = receiver.url
    slack.click(card.ts, "approve", "U0APPROVER")
    response_url = parse_block_action(receiver.requests[0].body).response_url
    assert response_url.startswith(slack.url + "_response/")

    assert _post_json(response_url, {"text": "Only you can see this"})[0] == 200
    assert slack.ephemerals()[-1].user == "U0APPROVER"
    assert _post_json(response_url, {"replace_original": True, "text": "Approved"})[0] == 200
    msg = slack.message(card.ts)
    assert msg is not None and (msg.text, msg.buttons) == ("Approved", [])
    assert _post_json(slack.url + "_response/unknown-response-id", {"text": "x"})[0] == 404
