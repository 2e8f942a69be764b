"""The real slack_sdk WebClient (and SlackNotifier) against the local Slack stand-in."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from mlops_pipeline.adapters.slack import views
from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.adapters.slack.errors import SlackError
from mlops_pipeline.domain.models import Approval, MessageRef
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer

pytestmark = pytest.mark.functional

CHANNEL = "C0PIPELINE"


def approval_blocks(approval_id: str = "appr_0123456789abcdef") -> tuple[str, list[dict[str, Any]]]:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    approval = Approval(
        id=approval_id,
        task_token="tt",
        execution="arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1",
        model="churn",
        version="2",
        commit="0123456789abcdef",
        author="author@example.com",
        requested_at=now,
        expires_at=now + timedelta(days=1),
    )
    evaluation = {"metric": "rmse", "direction": "lower", "candidate": 0.4, "champion": 0.5, "passed": True}
    return views.approval_card(approval, evaluation, {"latency_ms": 10, "rows": 3})


def test_auth_test(web: WebClient) -> None:
    response = web.auth_test()
    assert response["ok"] is True
    assert response["user_id"] == "U0BOT"


def test_bad_token_is_invalid_auth_and_never_echoed(slack: LocalSlackServer) -> None:
    wrong = "xoxb-wrong-token-4242"
    with pytest.raises(SlackError) as info:
        SlackNotifier(wrong, base_url=slack.api_url).post(CHANNEL, "hello")
    assert info.value.code == "invalid_auth"
    assert str(info.value) == "Slack chat.postMessage failed: invalid_auth"
    assert wrong not in repr(info.value) and wrong not in str(info.value.__cause__)
    assert slack.messages() == []


def test_missing_token_is_not_authed(slack: LocalSlackServer) -> None:
    with pytest.raises(SlackApiError) as info:
        WebClient(base_url=slack.api_url).auth_test()
    assert info.value.response["error"] == "not_authed"


def test_thread_root_replies_and_reading_them_back(
    notifier: SlackNotifier, web: WebClient, slack: LocalSlackServer
) -> None:
    text, blocks = views.progress("Build", "STARTED")
    root = notifier.post(CHANNEL, "run header")
    first = notifier.post(CHANNEL, text, blocks, thread_ts=root.ts)
    # A reply to a reply joins the root's thread, as in Slack.
    second = notifier.post(CHANNEL, "second", thread_ts=first.ts)
    other = notifier.post(CHANNEL, "another run")

    assert root.channel == CHANNEL
    assert float(root.ts) < float(first.ts) < float(second.ts) < float(other.ts)
    thread = slack.thread(root.ts)
    assert [m.ts for m in thread] == [root.ts, first.ts, second.ts]
    assert thread[1].blocks == blocks and thread[1].thread_ts == root.ts
    assert thread[2].thread_ts == root.ts

    replies = web.conversations_replies(channel=CHANNEL, ts=root.ts)
    assert [m["ts"] for m in replies["messages"]] == [root.ts, first.ts, second.ts]
    assert replies["messages"][0]["reply_count"] == 2

    history = web.conversations_history(channel=CHANNEL)
    assert [m["ts"] for m in history["messages"]] == [other.ts, root.ts]  # roots only, newest first
    assert web.conversations_history(channel=CHANNEL, limit=1)["has_more"] is True


def test_unknown_channel_and_thread(notifier: SlackNotifier, web: WebClient) -> None:
    with pytest.raises(SlackError, match=r"chat.postMessage failed: channel_not_found"):
        notifier.post("C0NOPE", "hi")
    with pytest.raises(SlackError, match="thread_not_found"):
        notifier.post(CHANNEL, "hi", thread_ts="1.000001")
    with pytest.raises(SlackApiError) as info:
        web.conversations_replies(channel=CHANNEL, ts="1.000001")
    assert info.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as info:
        web.conversations_history(channel="C0NOPE")
    assert info.value.response["error"] == "channel_not_found"


def test_channel_by_name_resolves_to_its_id(notifier: SlackNotifier) -> None:
    assert notifier.post("#mlops-pipeline", "hi").channel == CHANNEL


def test_message_without_text_or_blocks_is_refused(web: WebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        web.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert info.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as info:
        web.api_call("chat.postMessage", json={"channel": CHANNEL, "blocks": [{"no": "type"}]})
    assert info.value.response["error"] == "invalid_blocks"


def test_update_replaces_the_card_and_keeps_history(notifier: SlackNotifier, slack: LocalSlackServer) -> None:
    text, blocks = approval_blocks()
    ref = notifier.post(CHANNEL, text, blocks)
    assert slack.message(ref.ts) is not None
    assert slack.message(ref.ts).buttons  # type: ignore[union-attr]

    notifier.update(ref, "decided", [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved"}}])
    msg = slack.message(ref.ts)
    assert msg is not None
    assert (msg.text, msg.buttons) == ("decided", [])
    assert [e["text"] for e in msg.edits] == [text]
    assert msg.edits[0]["blocks"] == blocks

    notifier.update(ref, "text only")  # like Slack: omitted blocks are kept
    msg = slack.message(ref.ts)
    assert msg is not None
    assert msg.text == "text only" and msg.blocks[0]["text"]["text"] == "Approved"
    assert len(msg.edits) == 2


def test_update_of_unknown_message(notifier: SlackNotifier, slack: LocalSlackServer) -> None:
    with pytest.raises(SlackError, match=r"chat.update failed: message_not_found"):
        notifier.update(MessageRef(CHANNEL, "1.000001"), "x")
    slack.add_channel("C0OTHER", "other")
    ref = notifier.post(CHANNEL, "x")
    with pytest.raises(SlackError, match="message_not_found"):
        notifier.update(MessageRef("C0OTHER", ref.ts), "moved?")
    with pytest.raises(SlackError, match="channel_not_found"):
        notifier.update(MessageRef("C0NOPE", ref.ts), "x")


def test_ephemeral(notifier: SlackNotifier, slack: LocalSlackServer) -> None:
    notifier.post_ephemeral(CHANNEL, "U0OTHER", "You may not approve this model.")
    (eph,) = slack.ephemerals()
    assert (eph.channel, eph.user, eph.text) == (CHANNEL, "U0OTHER", "You may not approve this model.")
    assert slack.messages() == []  # never a channel message
    with pytest.raises(SlackError, match="user_not_found"):
        notifier.post_ephemeral(CHANNEL, "U0NOBODY", "x")


def test_users_and_groups(notifier: SlackNotifier, web: WebClient) -> None:
    assert notifier.lookup_user_by_email("approver@example.com") == "U0APPROVER"
    assert notifier.lookup_user_by_email("Author@Example.com") == "U0AUTHOR"
    assert notifier.lookup_user_by_email("nobody@example.com") is None
    assert (
        web.users_lookupByEmail(email="other@example.com")["user"]["profile"]["email"] == "other@example.com"
    )
    assert notifier.usergroup_members("S0APPROVERS") == frozenset({"U0APPROVER"})
    with pytest.raises(SlackError, match=r"usergroups.users.list failed: no_such_subteam"):
        notifier.usergroup_members("S0NOPE")


def test_form_bodies_and_token_in_form(slack: LocalSlackServer, bot_token: str) -> None:
    web = WebClient(token=bot_token, base_url=slack.api_url)
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}])
    response = web.api_call("chat.postMessage", data={"channel": CHANNEL, "text": "hi", "blocks": blocks})
    assert slack.message(response["ts"]).blocks[0]["text"]["text"] == "*hi*"  # type: ignore[union-attr]

    body = f"token={bot_token}&channel={CHANNEL}&text=form".encode()
    request = urllib.request.Request(slack.api_url + "chat.postMessage", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as raw:
        assert json.load(raw)["ok"] is True
    assert [m.text for m in slack.messages()] == ["hi", "form"]


def test_invalid_json_body_and_unknown_method(
    slack: LocalSlackServer, web: WebClient, bot_token: str
) -> None:
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage",
        data=b"{not json",
        headers={"Authorization": f"Bearer {bot_token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as raw:
        assert json.load(raw) == {"ok": False, "error": "invalid_arguments"}
    with pytest.raises(SlackApiError) as info:
        web.api_call("files.upload")
    assert info.value.response["error"] == "unknown_method"


def test_unreachable_slack_is_a_connection_error(bot_token: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = SlackNotifier(
        bot_token, base_url=f"http://127.0.0.1:{port}/api", max_retries=0, timeout_seconds=2
    )
    with pytest.raises(SlackError, match=r"chat.postMessage failed: connection_error"):
        notifier.post(CHANNEL, "hi")


def test_inbox_page_and_state(slack: LocalSlackServer, notifier: SlackNotifier, bot_token: str) -> None:
    notifier.post(CHANNEL, "<script>alert(1)</script>")
    with urllib.request.urlopen(slack.url, timeout=5) as page:
        html = page.read().decode()
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "Local Slack" in html and "<script>alert(1)</script>" not in html
    with urllib.request.urlopen(slack.url + "_inbox/state", timeout=5) as raw:
        state = json.load(raw)
    (channel,) = state["channels"]
    assert channel["threads"][0]["root"]["text"] == "<script>alert(1)</script>"  # data, rendered as text
    assert {u["id"] for u in state["users"]} == {"U0APPROVER", "U0AUTHOR", "U0OTHER"}
    assert bot_token not in json.dumps(state)


def test_server_stops_and_frees_its_port(bot_token: str) -> None:
    server = LocalSlackServer(bot_token, "s").start()
    url = server.api_url
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "auth.test", timeout=2)
