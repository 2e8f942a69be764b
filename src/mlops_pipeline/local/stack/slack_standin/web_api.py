"""The Slack Web API methods the pipeline uses, answered from the stand-in's :class:`Workspace`.

``slack_sdk.WebClient`` calls them as it would call Slack: each method checks its arguments
the way Slack does and answers Slack's envelope (``ok`` true with the result, or ``ok`` false
with Slack's error code).
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from mlops_pipeline.local.stack.slack_standin.workspace import (
    BOT_ID,
    BOT_USER_ID,
    MAX_EDITS_KEPT,
    TEAM_ID,
    ApiError,
    SlackEphemeral,
    StoredMessage,
    Workspace,
    as_api_message,
    user_json,
)


def opt_str(value: Any) -> str:
    """An optional string argument (numbers as sent in form bodies count)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ApiError("invalid_arguments")


def _opt_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None
    if number < 1:
        raise ApiError("invalid_arguments")
    return min(number, 1000)


def parse_blocks(value: Any) -> list[dict[str, Any]] | None:
    """Blocks as a list of dicts; form bodies carry them as a JSON string."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError("invalid_blocks") from None
    if not isinstance(value, list) or len(value) > 50:
        raise ApiError("invalid_blocks")
    for block in value:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ApiError("invalid_blocks")
    return copy.deepcopy(value)


class WebApi:
    """The methods, behind the bot token; ``base_url`` is where the server answers (for auth.test)."""

    def __init__(self, workspace: Workspace, bot_token: str, base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._token = bot_token
        self._base_url = base_url
        self._methods: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "users.lookupByEmail": self._lookup_by_email,
            "usergroups.users.list": self._usergroup_users,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
        }

    def call(self, method: str, args: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """Run one Web API method; returns Slack's envelope (``ok`` true or false)."""
        handler = self._methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if token is None:
            return {"ok": False, "error": "not_authed"}
        if not secrets.compare_digest(token.encode(), self._token.encode()):
            return {"ok": False, "error": "invalid_auth"}
        try:
            with self._ws.lock:
                result = handler(args)
        except ApiError as exc:
            return {"ok": False, "error": exc.code}
        return {"ok": True, **result}

    def _auth_test(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "url": self._base_url(),
            "team": "Local workspace",
            "user": "mlops-pipeline",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        ws = self._ws
        channel = ws.resolve_channel(args.get("channel"))
        text = opt_str(args.get("text"))
        blocks = parse_blocks(args.get("blocks"))
        if not text and not blocks:
            raise ApiError("no_text")
        thread_ts = opt_str(args.get("thread_ts")) or None
        if thread_ts is not None:
            parent = ws.stored.get(thread_ts)
            if parent is None or parent.channel != channel:
                raise ApiError("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the root's thread
        msg = StoredMessage(channel, ws.next_ts(), BOT_USER_ID, text, blocks or [], thread_ts)
        ws.stored[msg.ts] = msg
        ws.order.append(msg.ts)
        ws.touch()
        return {"channel": channel, "ts": msg.ts, "message": as_api_message(msg.snapshot())}

    def _update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        ws = self._ws
        channel = ws.resolve_channel(args.get("channel"))
        ts = opt_str(args.get("ts"))
        if not ts:
            raise ApiError("invalid_arguments")
        msg = ws.stored.get(ts)
        if msg is None or msg.channel != channel:
            raise ApiError("message_not_found")
        text = opt_str(args.get("text"))
        blocks = parse_blocks(args.get("blocks"))
        if not text and not blocks:
            raise ApiError("no_text")
        msg.edits.append({"text": msg.text, "blocks": msg.blocks, "replaced_at": ws.next_ts()})
        del msg.edits[:-MAX_EDITS_KEPT]
        msg.text = text
        if blocks is not None:  # like Slack: omitted blocks are kept, [] removes them
            msg.blocks = blocks
        ws.touch()
        return {"channel": channel, "ts": ts, "text": text, "message": as_api_message(msg.snapshot())}

    def _post_ephemeral(self, args: Mapping[str, Any]) -> dict[str, Any]:
        ws = self._ws
        channel = ws.resolve_channel(args.get("channel"))
        user = opt_str(args.get("user"))
        if not user:
            raise ApiError("invalid_arguments")
        if user not in ws.users:
            raise ApiError("user_not_found")
        text = opt_str(args.get("text"))
        blocks = parse_blocks(args.get("blocks"))
        if not text and not blocks:
            raise ApiError("no_text")
        ts = ws.next_ts()
        thread_ts = opt_str(args.get("thread_ts")) or None
        ws.ephemeral_log.append(SlackEphemeral(channel, user, text, ts, thread_ts, blocks or []))
        ws.touch()
        return {"message_ts": ts}

    def _lookup_by_email(self, args: Mapping[str, Any]) -> dict[str, Any]:
        email = opt_str(args.get("email")).strip().lower()
        if not email:
            raise ApiError("invalid_arguments")
        for user in self._ws.users.values():
            if user.email.lower() == email:
                return {"user": user_json(user)}
        raise ApiError("users_not_found")

    def _usergroup_users(self, args: Mapping[str, Any]) -> dict[str, Any]:
        group = opt_str(args.get("usergroup"))
        if not group:
            raise ApiError("invalid_arguments")
        if group not in self._ws.usergroups:
            raise ApiError("no_such_subteam")
        return {"users": list(self._ws.usergroups[group])}

    def _replies(self, args: Mapping[str, Any]) -> dict[str, Any]:
        ws = self._ws
        channel = ws.resolve_channel(args.get("channel"))
        ts = opt_str(args.get("ts"))
        if not ts:
            raise ApiError("invalid_arguments")
        msg = ws.stored.get(ts)
        if msg is None or msg.channel != channel:
            raise ApiError("thread_not_found")
        thread = ws.thread(ts)
        replies = len(thread) - 1
        out = [as_api_message(m, replies if i == 0 else None) for i, m in enumerate(thread)]
        return {"messages": out, "has_more": False}

    def _history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        ws = self._ws
        channel = ws.resolve_channel(args.get("channel"))
        limit = _opt_int(args.get("limit"), default=100)
        roots = [m for m in ws.messages(channel) if not m.is_reply]
        roots.reverse()  # newest first, like Slack
        out = []
        for root in roots[:limit]:
            replies = sum(1 for m in ws.stored.values() if m.thread_ts == root.ts and m.ts != root.ts)
            out.append(as_api_message(root, replies))
        return {"messages": out, "has_more": len(roots) > limit}
