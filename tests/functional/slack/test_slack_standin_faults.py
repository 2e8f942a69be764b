"""The stand-in's fault switch (chosen Web API methods answer an HTTP error, as in a Slack
outage), and deciding an approval whose card could not be posted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.adapters.slack.errors import SlackError
from mlops_pipeline.adapters.slack.interactions import parse_block_action
from mlops_pipeline.domain.errors import ChatError
from mlops_pipeline.local.stack.slack_standin import LocalSlackError, LocalSlackServer

pytestmark = pytest.mark.functional


def control(
    slack: LocalSlackServer, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    """GET (no body) or POST the fault state at ``/_control/faults``."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(
        f"{slack.url}_control/faults", data=data, method="POST" if data else "GET"
    )
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_failing_post_message_is_a_chat_error_and_stores_nothing(
    slack: LocalSlackServer, notifier: SlackNotifier
) -> None:
    root = notifier.post("C0PIPELINE", "root")
    slack.set_faults({"chat.postMessage": 500})
    with pytest.raises(SlackError) as info:
        notifier.post("C0PIPELINE", "lost", thread_ts=root.ts)
    assert isinstance(info.value, ChatError) and info.value.method == "chat.postMessage"
    assert info.value.code == "fatal_error"
    # Only the faulty method is down: the card can still be updated, users looked up.
    notifier.update(root, "root, edited")
    assert notifier.lookup_user_by_email("approver@example.com") == "U0APPROVER"
    assert [m.text for m in slack.thread(root.ts)] == ["root, edited"]
    assert slack.fault_hits == {"chat.postMessage": 1}

    slack.set_faults({})
    notifier.post("C0PIPELINE", "back", thread_ts=root.ts)
    assert [m.text for m in slack.thread(root.ts)] == ["root, edited", "back"]


def test_faults_are_set_and_read_over_http(slack: LocalSlackServer, notifier: SlackNotifier) -> None:
    assert control(slack) == (200, {"ok": True, "faults": {}, "hits": {}})
    status, state = control(slack, {"faults": {"chat.postMessage": 503, "chat.update": 500}})
    assert status == 200 and state["faults"] == {"chat.postMessage": 503, "chat.update": 500}
    with pytest.raises(ChatError):
        notifier.post("C0PIPELINE", "x")
    assert control(slack)[1]["hits"] == {"chat.postMessage": 1}
    assert control(slack, {"faults": {}})[1]["faults"] == {}
    assert notifier.post("C0PIPELINE", "x").ts


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"faults": {"chat.postMessage": 200}}, "application/json", 400),  # not an outage
        ({"faults": ["chat.postMessage"]}, "application/json", 400),
        ({}, "application/json", 400),
        (b"faults=x", "application/x-www-form-urlencoded", 403),  # a form post from a web page
    ],
)
def test_bad_fault_requests_are_refused(
    slack: LocalSlackServer, body: Any, content_type: str, status: int
) -> None:
    assert control(slack, body, content_type)[0] == status
    assert slack.faults == {}


def test_an_approval_without_a_card_is_decided_signed_over_http(
    slack: LocalSlackServer, receiver: Any, signing_secret: str
) -> None:
    """``/_inbox/decide`` (what ``local approve`` uses when Slack was down at the request): the
    payload a click on the card would carry, signed with the app's secret, parsed by the handler's
    own parser."""
    slack.interactions_url = receiver.url
    body = json.dumps(
        {
            "approval_id": "appr_0123456789abcdef",
            "action_id": "approve",
            "user_id": "U0APPROVER",
            "channel": "C0PIPELINE",
        }
    ).encode()
    request = urllib.request.Request(
        f"{slack.url}_inbox/decide", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["status"] == 200
    (sent,) = receiver.requests
    assert SignatureVerifier(signing_secret).is_valid_request(sent.body, sent.headers)
    action = parse_block_action(sent.body)
    assert (action.approval_id, action.action_id, action.user_id, action.channel_id) == (
        "appr_0123456789abcdef",
        "approve",
        "U0APPROVER",
        "C0PIPELINE",
    )
    with pytest.raises(LocalSlackError, match="no user"):
        slack.decide_without_card("appr_0123456789abcdef", "approve", "UNOBODY", "C0PIPELINE")
