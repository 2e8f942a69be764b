"""ChatNotifier contract: FakeNotifier and SlackNotifier (the local Slack stand-in) answer alike."""

from __future__ import annotations

import pytest

from mlops_pipeline.domain.errors import ChatError
from mlops_pipeline.domain.models import MessageRef

from .backends import CHANNEL, GROUP, GROUP_MEMBERS, USER, USER_EMAIL, ChatBackend, SeenMessage

pytestmark = pytest.mark.functional

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "card"}}]


def test_post_returns_where_the_message_lives(chat_backend: ChatBackend) -> None:
    first = chat_backend.notifier.post(CHANNEL, "hello", BLOCKS)
    second = chat_backend.notifier.post(CHANNEL, "again")
    assert (first.channel, second.channel) == (CHANNEL, CHANNEL)
    assert first.ts != second.ts
    assert chat_backend.message(first) == SeenMessage(CHANNEL, "hello", BLOCKS, None)
    assert chat_backend.message(second) == SeenMessage(CHANNEL, "again", [], None)


def test_reply_in_a_thread(chat_backend: ChatBackend) -> None:
    root = chat_backend.notifier.post(CHANNEL, "run started")
    reply = chat_backend.notifier.post(CHANNEL, "build ok", thread_ts=root.ts)
    seen = chat_backend.message(reply)
    assert seen is not None and seen.thread_ts == root.ts


def test_update_replaces_text_and_keeps_blocks_unless_given(chat_backend: ChatBackend) -> None:
    ref = chat_backend.notifier.post(CHANNEL, "pending", BLOCKS)
    chat_backend.notifier.update(ref, "approved")
    assert chat_backend.message(ref) == SeenMessage(CHANNEL, "approved", BLOCKS, None)
    decided = [{"type": "section", "text": {"type": "mrkdwn", "text": "decided"}}]
    chat_backend.notifier.update(ref, "approved by U1", decided)
    assert chat_backend.message(ref) == SeenMessage(CHANNEL, "approved by U1", decided, None)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_refused_calls_raise_chat_error(chat_backend: ChatBackend) -> None:
    notifier = chat_backend.notifier
    with pytest.raises(ChatError):
        notifier.update(MessageRef(CHANNEL, "1.000001"), "no such message")
    with pytest.raises(ChatError):
        notifier.post("C0NOSUCHCHANNEL", "hello")
    with pytest.raises(ChatError):
        notifier.post(CHANNEL, "")  # neither text nor blocks
    with pytest.raises(ChatError):
        notifier.post_ephemeral(CHANNEL, "U0NOBODY", "you may not approve this")
    with pytest.raises(ChatError):
        notifier.usergroup_members("S0NOSUCHGROUP")


def test_ephemeral_reaches_the_user(chat_backend: ChatBackend) -> None:
    chat_backend.notifier.post_ephemeral(CHANNEL, USER, "you may not approve this")
    assert chat_backend.ephemerals() == [(CHANNEL, USER, "you may not approve this")]


def test_users_and_groups(chat_backend: ChatBackend) -> None:
    notifier = chat_backend.notifier
    assert notifier.lookup_user_by_email(USER_EMAIL) == USER
    assert notifier.lookup_user_by_email("nobody@example.com") is None
    assert notifier.usergroup_members(GROUP) == GROUP_MEMBERS
