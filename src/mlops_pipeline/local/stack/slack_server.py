"""A local Slack stand-in: the Web API methods the pipeline uses, plus a web inbox.

The real ``slack_sdk.WebClient`` talks to it (``base_url=server.api_url``). Messages,
threads, edits and ephemerals are kept in memory. The inbox at ``/`` shows them and
its Approve/Reject buttons send ``block_actions`` payloads, signed exactly like Slack
signs them, to ``interactions_url`` (the local callback endpoint).

Run standalone: ``python -m mlops_pipeline.local.stack.slack_server --port 8990``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from mlops_pipeline.adapters.slack.signature import sign
from mlops_pipeline.domain.errors import PipelineError

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_USERGROUPS",
    "DEFAULT_USERS",
    "LocalChannel",
    "LocalSlackError",
    "LocalSlackServer",
    "LocalUser",
    "SlackEphemeral",
    "SlackMessage",
    "main",
]

log = logging.getLogger(__name__)

TEAM_ID = "T0LOCAL"
TEAM_DOMAIN = "local"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0LOCAL"
MAX_API_BODY = 1024 * 1024
MAX_EDITS_KEPT = 50


class LocalSlackError(PipelineError):
    """The local Slack stand-in cannot do what was asked (unknown message/button, no endpoint)."""


@dataclass(frozen=True)
class LocalUser:
    """A member of the local workspace."""

    id: str
    name: str
    email: str
    real_name: str = ""
    title: str = ""


@dataclass(frozen=True)
class LocalChannel:
    id: str
    name: str


@dataclass(frozen=True)
class SlackMessage:
    """A snapshot of a stored message (copies; changing it changes nothing on the server)."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    bot_id: str | None = None
    edits: tuple[dict[str, Any], ...] = ()  # earlier versions: {"text", "blocks", "replaced_at"}

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button element in the message's actions blocks."""
        found: list[dict[str, Any]] = []
        for block in self.blocks:
            if block.get("type") == "actions":
                found.extend(e for e in block.get("elements", []) if e.get("type") == "button")
        return found


@dataclass(frozen=True)
class SlackEphemeral:
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)


DEFAULT_USERS: tuple[LocalUser, ...] = (
    LocalUser("U0APPROVER", "approver", "approver@example.com", "Alex Approver", "ML platform lead"),
    LocalUser("U0AUTHOR", "author", "author@example.com", "Dana Scientist", "Data scientist"),
    LocalUser("U0OTHER", "other", "other@example.com", "Olli Other", "Not an approver"),
)
DEFAULT_USERGROUPS: dict[str, tuple[str, ...]] = {"S0APPROVERS": ("U0APPROVER",)}
DEFAULT_CHANNELS: tuple[LocalChannel, ...] = (LocalChannel("C0PIPELINE", "mlops-pipeline"),)


class _ApiError(Exception):
    def __init__(self, code: str, status: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


@dataclass
class _Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> SlackMessage:
        return SlackMessage(
            channel=self.channel,
            ts=self.ts,
            user=self.user,
            text=self.text,
            blocks=copy.deepcopy(self.blocks),
            thread_ts=self.thread_ts,
            bot_id=BOT_ID,
            edits=tuple(copy.deepcopy(self.edits)),
        )


def _as_api_message(msg: SlackMessage, reply_count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "message",
        "ts": msg.ts,
        "user": msg.user,
        "bot_id": msg.bot_id,
        "text": msg.text,
        "blocks": msg.blocks,
        "team": TEAM_ID,
    }
    if msg.thread_ts:
        data["thread_ts"] = msg.thread_ts
    if msg.edits:
        data["edited"] = {"user": msg.user, "ts": msg.edits[-1]["replaced_at"]}
    if reply_count:
        data["reply_count"] = reply_count
    return data


class LocalSlackServer:
    """Slack-compatible Web API + inbox on 127.0.0.1 (ephemeral port by default).

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        bot_token: str,
        signing_secret: str,
        interactions_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Sequence[LocalUser] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        channels: Sequence[LocalChannel] | None = None,
        click_timeout_seconds: float = 60.0,
    ) -> None:
        if not bot_token or not signing_secret:
            raise ValueError("bot_token and signing_secret must not be empty")
        self._token = bot_token
        self._signing_secret = signing_secret
        self._host = host
        self._requested_port = port
        self._click_timeout = click_timeout_seconds
        self._lock = threading.RLock()
        self._users: dict[str, LocalUser] = {u.id: u for u in (users if users is not None else DEFAULT_USERS)}
        groups = usergroups if usergroups is not None else DEFAULT_USERGROUPS
        self._usergroups: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in groups.items()}
        self._channels: dict[str, LocalChannel] = {
            c.id: c for c in (channels if channels is not None else DEFAULT_CHANNELS)
        }
        self._messages: dict[str, _Message] = {}  # by ts; ts is unique across channels here
        self._order: list[str] = []
        self._ephemerals: list[SlackEphemeral] = []
        self._clicks: list[dict[str, Any]] = []
        self._response_urls: dict[str, tuple[str, str, str]] = {}  # id -> (channel, message_ts, user)
        self._last_ts_us = 0
        self._version = 0
        self._changed = threading.Condition(self._lock)
        self._interactions_url = interactions_url
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> LocalSlackServer:
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        server = self

        class Handler(_Handler):
            slack = server

        httpd = ThreadingHTTPServer((self._host, self._requested_port), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-slack", daemon=True
        )
        self._thread.start()
        log.info("local Slack API on %s, inbox %s", self.api_url, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalSlackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- properties
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise LocalSlackError("the local Slack server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The web inbox."""
        return f"http://{self._host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """``base_url`` for ``slack_sdk.WebClient`` (ends in ``/api/``)."""
        return f"{self.url}api/"

    @property
    def interactions_url(self) -> str | None:
        return self._interactions_url

    @interactions_url.setter
    def interactions_url(self, value: str | None) -> None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("interactions_url must be an http(s) URL")
        with self._lock:
            self._interactions_url = value
            self._touch()

    @property
    def users(self) -> tuple[LocalUser, ...]:
        return tuple(self._users.values())

    @property
    def channels(self) -> tuple[LocalChannel, ...]:
        return tuple(self._channels.values())

    @property
    def usergroups(self) -> dict[str, tuple[str, ...]]:
        return dict(self._usergroups)

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self._channels[channel_id] = LocalChannel(channel_id, name)
            self._touch()

    def _touch(self) -> None:
        """Record a change (the inbox polls the version; waiters wake up). Caller holds the lock."""
        self._version += 1
        self._changed.notify_all()

    # ----------------------------------------------------------------- reading
    def wait_for_message(
        self,
        predicate: Callable[[SlackMessage], bool],
        timeout: float = 30.0,
        channel: str | None = None,
    ) -> SlackMessage:
        """The first stored message (in posting order) matching ``predicate``, waiting up to ``timeout`` s.

        Edits count: a message updated to match is found. LocalSlackError on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for msg in self.messages(channel):
                    if predicate(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LocalSlackError(f"no matching Slack message within {timeout:g} s")
                self._changed.wait(remaining)

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Every message (roots and replies) in posting order, optionally of one channel."""
        with self._lock:
            return [
                self._messages[ts].snapshot()
                for ts in self._order
                if channel is None or self._messages[ts].channel == channel
            ]

    def thread(self, ts: str) -> list[SlackMessage]:
        """The root message with ``ts`` and its replies in order; empty if unknown."""
        with self._lock:
            root = self._messages.get(ts)
            if root is None:
                return []
            root_ts = root.thread_ts or root.ts
            return [
                self._messages[t].snapshot()
                for t in self._order
                if t == root_ts or self._messages[t].thread_ts == root_ts
            ]

    def message(self, ts: str) -> SlackMessage | None:
        with self._lock:
            msg = self._messages.get(ts)
            return msg.snapshot() if msg else None

    def ephemerals(self) -> list[SlackEphemeral]:
        with self._lock:
            return list(self._ephemerals)

    def clicks(self) -> list[dict[str, Any]]:
        """What each click sent and what the interactions endpoint answered."""
        with self._lock:
            return copy.deepcopy(self._clicks)

    # ----------------------------------------------------------------- clicking
    def click(self, message_ts: str, action_id: str, user_id: str) -> tuple[int, str]:
        """Click a button like a Slack user would; returns the endpoint's status and body.

        Builds Slack's ``block_actions`` payload, signs it with the signing secret and
        POSTs it as ``payload=<JSON>`` to ``interactions_url``.
        """
        url = self._interactions_url
        if not url:
            raise LocalSlackError("interactions_url is not set; nowhere to send the click")
        body = self.interaction_body(message_ts, action_id, user_id)
        headers = sign(body, self._signing_secret, int(time.time()))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._click_timeout) as response:  # noqa: S310
                status, text = int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = int(exc.code), exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise LocalSlackError(f"interactions endpoint {url} unreachable: {type(exc).__name__}") from exc
        with self._lock:
            self._clicks.append(
                {
                    "at": time.time(),
                    "message_ts": message_ts,
                    "action_id": action_id,
                    "user_id": user_id,
                    "status": status,
                    "body": text[:2000],
                }
            )
            del self._clicks[:-100]
            self._touch()
        return status, text

    def interaction_body(self, message_ts: str, action_id: str, user_id: str) -> bytes:
        """The exact form body Slack would send for this click (unsigned)."""
        with self._lock:
            msg = self._messages.get(message_ts)
            if msg is None:
                raise LocalSlackError(f"no message with ts {message_ts}")
            user = self._users.get(user_id)
            if user is None:
                raise LocalSlackError(f"no user {user_id} in the local workspace")
            block_id, button = self._find_button(msg, action_id)
            channel = self._channels.get(msg.channel, LocalChannel(msg.channel, msg.channel))
            response_id = secrets.token_urlsafe(12)
            self._response_urls[response_id] = (msg.channel, msg.ts, user.id)
            while len(self._response_urls) > 1000:  # bounded: oldest response URLs lapse
                self._response_urls.pop(next(iter(self._response_urls)))
            snapshot = msg.snapshot()
            now = f"{time.time():.6f}"
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "token": "local-verification-token",  # legacy field Slack still sends; not a secret
                "container": {
                    "type": "message",
                    "message_ts": msg.ts,
                    "channel_id": msg.channel,
                    "is_ephemeral": False,
                    **({"thread_ts": msg.thread_ts} if msg.thread_ts else {}),
                },
                "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel.id, "name": channel.name},
                "message": _as_api_message(snapshot),
                "state": {"values": {}},
                "response_url": f"{self.url}_response/{response_id}",
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": block_id,
                        "text": button.get("text", {"type": "plain_text", "text": action_id}),
                        "value": button.get("value", ""),
                        **({"style": button["style"]} if "style" in button else {}),
                        "type": "button",
                        "action_ts": now,
                    }
                ],
            }
        return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")

    @staticmethod
    def _find_button(msg: _Message, action_id: str) -> tuple[str, dict[str, Any]]:
        for block in msg.blocks:
            if block.get("type") != "actions":
                continue
            for element in block.get("elements", []):
                if element.get("type") == "button" and element.get("action_id") == action_id:
                    return str(block.get("block_id") or "actions"), element
        raise LocalSlackError(f"message {msg.ts} has no button with action_id {action_id!r}")

    # ----------------------------------------------------------------- storage
    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _resolve_channel(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _ApiError("channel_not_found")
        if value in self._channels:
            return value
        name = value.lstrip("#")
        for channel in self._channels.values():
            if channel.name == name:
                return channel.id
        raise _ApiError("channel_not_found")

    # ----------------------------------------------------------------- Web API
    def api(self, method: str, args: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """Run one Web API method; returns Slack's envelope (``ok`` true or false)."""
        handler = _METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if token is None:
            return {"ok": False, "error": "not_authed"}
        if not secrets.compare_digest(token.encode(), self._token.encode()):
            return {"ok": False, "error": "invalid_auth"}
        try:
            with self._lock:
                result = handler(self, args)
        except _ApiError as exc:
            return {"ok": False, "error": exc.code}
        return {"ok": True, **result}

    def _auth_test(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "url": self.url,
            "team": "Local workspace",
            "user": "mlops-pipeline",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        text = _opt_str(args.get("text"))
        blocks = _blocks(args.get("blocks"))
        if not text and not blocks:
            raise _ApiError("no_text")
        thread_ts = _opt_str(args.get("thread_ts")) or None
        if thread_ts is not None:
            parent = self._messages.get(thread_ts)
            if parent is None or parent.channel != channel:
                raise _ApiError("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the root's thread
        msg = _Message(channel, self._next_ts(), BOT_USER_ID, text, blocks or [], thread_ts)
        self._messages[msg.ts] = msg
        self._order.append(msg.ts)
        self._touch()
        return {"channel": channel, "ts": msg.ts, "message": _as_api_message(msg.snapshot())}

    def _update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = _opt_str(args.get("ts"))
        if not ts:
            raise _ApiError("invalid_arguments")
        msg = self._messages.get(ts)
        if msg is None or msg.channel != channel:
            raise _ApiError("message_not_found")
        text = _opt_str(args.get("text"))
        blocks = _blocks(args.get("blocks"))
        if not text and not blocks:
            raise _ApiError("no_text")
        msg.edits.append({"text": msg.text, "blocks": msg.blocks, "replaced_at": self._next_ts()})
        del msg.edits[:-MAX_EDITS_KEPT]
        msg.text = text
        if blocks is not None:  # like Slack: omitted blocks are kept, [] removes them
            msg.blocks = blocks
        self._touch()
        return {"channel": channel, "ts": ts, "text": text, "message": _as_api_message(msg.snapshot())}

    def _post_ephemeral(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        user = _opt_str(args.get("user"))
        if not user:
            raise _ApiError("invalid_arguments")
        if user not in self._users:
            raise _ApiError("user_not_found")
        text = _opt_str(args.get("text"))
        blocks = _blocks(args.get("blocks"))
        if not text and not blocks:
            raise _ApiError("no_text")
        ts = self._next_ts()
        thread_ts = _opt_str(args.get("thread_ts")) or None
        self._ephemerals.append(SlackEphemeral(channel, user, text, ts, thread_ts, blocks or []))
        self._touch()
        return {"message_ts": ts}

    def _lookup_by_email(self, args: Mapping[str, Any]) -> dict[str, Any]:
        email = _opt_str(args.get("email")).strip().lower()
        if not email:
            raise _ApiError("invalid_arguments")
        for user in self._users.values():
            if user.email.lower() == email:
                return {"user": _user_json(user)}
        raise _ApiError("users_not_found")

    def _usergroup_users(self, args: Mapping[str, Any]) -> dict[str, Any]:
        group = _opt_str(args.get("usergroup"))
        if not group:
            raise _ApiError("invalid_arguments")
        if group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _replies(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        ts = _opt_str(args.get("ts"))
        if not ts:
            raise _ApiError("invalid_arguments")
        msg = self._messages.get(ts)
        if msg is None or msg.channel != channel:
            raise _ApiError("thread_not_found")
        thread = self.thread(ts)
        replies = len(thread) - 1
        out = [_as_api_message(m, replies if i == 0 else None) for i, m in enumerate(thread)]
        return {"messages": out, "has_more": False}

    def _history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        limit = _opt_int(args.get("limit"), default=100)
        roots = [m for m in self.messages(channel) if not m.is_reply]
        roots.reverse()  # newest first, like Slack
        out = []
        for root in roots[:limit]:
            replies = sum(1 for m in self._messages.values() if m.thread_ts == root.ts and m.ts != root.ts)
            out.append(_as_api_message(root, replies))
        return {"messages": out, "has_more": len(roots) > limit}

    def _respond(self, response_id: str, data: Mapping[str, Any]) -> None:
        """A POST to a ``response_url``: replace the original message or answer ephemerally."""
        with self._lock:
            target = self._response_urls.get(response_id)
            if target is None:
                raise _ApiError("invalid_response_url", HTTPStatus.NOT_FOUND)
            channel, message_ts, user = target
            text = _opt_str(data.get("text"))
            blocks = _blocks(data.get("blocks"))
            if data.get("replace_original") in (True, "true"):
                msg = self._messages[message_ts]
                msg.edits.append({"text": msg.text, "blocks": msg.blocks, "replaced_at": self._next_ts()})
                msg.text = text or msg.text
                msg.blocks = blocks if blocks is not None else []
            elif data.get("delete_original") in (True, "true"):
                raise _ApiError("not_supported_locally", HTTPStatus.BAD_REQUEST)
            else:
                if not text and not blocks:
                    raise _ApiError("no_text", HTTPStatus.BAD_REQUEST)
                self._ephemerals.append(
                    SlackEphemeral(channel, user, text, self._next_ts(), None, blocks or [])
                )
            self._touch()

    # ----------------------------------------------------------------- inbox
    def inbox_state(self) -> dict[str, Any]:
        """Everything the inbox page shows, as JSON-ready data."""
        with self._lock:
            # One pass over the messages: roots per channel, replies per root.
            roots: dict[str, list[SlackMessage]] = {c: [] for c in self._channels}
            replies: dict[str, list[SlackMessage]] = {}
            for msg in self.messages():
                if msg.is_reply and msg.thread_ts:
                    replies.setdefault(msg.thread_ts, []).append(msg)
                else:
                    roots.setdefault(msg.channel, []).append(msg)
            channels = [
                {
                    "id": channel.id,
                    "name": channel.name,
                    "threads": [
                        {
                            "root": _inbox_message(root),
                            "replies": [_inbox_message(m) for m in replies.get(root.ts, [])],
                        }
                        for root in reversed(roots.get(channel.id, []))  # newest thread first
                    ],
                }
                for channel in self._channels.values()
            ]
            return {
                "version": self._version,
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "interactions_url": self._interactions_url,
                "users": [
                    {**_user_json(u), "groups": [g for g, m in self._usergroups.items() if u.id in m]}
                    for u in self._users.values()
                ],
                "channels": channels,
                "ephemerals": [
                    {
                        "channel": e.channel,
                        "user": e.user,
                        "text": e.text,
                        "ts": e.ts,
                        "thread_ts": e.thread_ts,
                    }
                    for e in self._ephemerals
                ],
                "clicks": copy.deepcopy(self._clicks[-20:]),
            }


def _inbox_message(msg: SlackMessage) -> dict[str, Any]:
    return {
        "ts": msg.ts,
        "thread_ts": msg.thread_ts,
        "user": msg.user,
        "text": msg.text,
        "blocks": msg.blocks,
        "edited": len(msg.edits),
    }


def _user_json(user: LocalUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "team_id": TEAM_ID,
        "name": user.name,
        "real_name": user.real_name or user.name,
        "is_bot": False,
        "deleted": False,
        "profile": {
            "email": user.email,
            "real_name": user.real_name or user.name,
            "display_name": user.name,
            "title": user.title,
        },
    }


def _opt_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _ApiError("invalid_arguments")


def _opt_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _ApiError("invalid_arguments") from None
    if number < 1:
        raise _ApiError("invalid_arguments")
    return min(number, 1000)


def _blocks(value: Any) -> list[dict[str, Any]] | None:
    """Blocks as a list of dicts; form bodies carry them as a JSON string."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise _ApiError("invalid_blocks") from None
    if not isinstance(value, list) or len(value) > 50:
        raise _ApiError("invalid_blocks")
    for block in value:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _ApiError("invalid_blocks")
    return copy.deepcopy(value)


_METHODS = {
    "auth.test": LocalSlackServer._auth_test,
    "chat.postMessage": LocalSlackServer._post_message,
    "chat.update": LocalSlackServer._update,
    "chat.postEphemeral": LocalSlackServer._post_ephemeral,
    "users.lookupByEmail": LocalSlackServer._lookup_by_email,
    "usergroups.users.list": LocalSlackServer._usergroup_users,
    "conversations.replies": LocalSlackServer._replies,
    "conversations.history": LocalSlackServer._history,
}

_METHOD_PATH = re.compile(r"^/api/([A-Za-z]+(?:\.[A-Za-z]+)+)$")
_RESPONSE_PATH = re.compile(r"^/_response/([A-Za-z0-9_-]{8,64})$")


def _inbox_page() -> bytes:
    return resources.files("mlops_pipeline.local.stack").joinpath("static/inbox.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    slack: LocalSlackServer
    server_version = "LocalSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Paths and status only; the Authorization header is never part of this line.
        log.debug("local slack: " + format, *args)

    # -- helpers
    def _send(
        self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_API_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False, "error": "request_too_large"})
            return None
        return self.rfile.read(length) if length else b""

    def _token(self, form: Mapping[str, Any]) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = form.get("token")
        return token if isinstance(token, str) and token else None

    def _same_origin(self) -> bool:
        # The inbox is local, but a web page in the same browser could still POST here;
        # demanding JSON (which forces a CORS preflight we never answer) and a matching
        # Origin keeps other sites from clicking buttons.
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        host = self.headers.get("Host") or ""
        return urlsplit(origin).netloc == host

    # -- verbs
    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/" or path == "/index.html":
            self._send(
                HTTPStatus.OK,
                _inbox_page(),
                "text/html; charset=utf-8",
                {
                    "Content-Security-Policy": (
                        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
                    ),
                    "Referrer-Policy": "no-referrer",
                },
            )
            return
        if path == "/_inbox/state":
            self._json(HTTPStatus.OK, self.slack.inbox_state())
            return
        if path == "/_inbox/health":
            self._json(HTTPStatus.OK, {"ok": True})
            return
        match = _METHOD_PATH.match(path)
        if match:
            args = _single(parse_qs(query, keep_blank_values=True))
            self._api(match.group(1), args)
            return
        self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not_found"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            return
        if path == "/_inbox/click":
            self._click(body)
            return
        match = _RESPONSE_PATH.match(path)
        if match:
            self._response_url(match.group(1), body)
            return
        match = _METHOD_PATH.match(path)
        if not match:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not_found"})
            return
        args: dict[str, Any] = _single(parse_qs(query, keep_blank_values=True))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                args.update(data)
            elif body:
                args.update(_single(parse_qs(body.decode("utf-8"), keep_blank_values=True)))
        except (ValueError, UnicodeDecodeError):
            self._json(HTTPStatus.OK, {"ok": False, "error": "invalid_arguments"})
            return
        self._api(match.group(1), args)

    def _api(self, method: str, args: dict[str, Any]) -> None:
        token = self._token(args)
        args.pop("token", None)
        result = self.slack.api(method, args, token)
        status = HTTPStatus.NOT_FOUND if result.get("error") == "unknown_method" else HTTPStatus.OK
        self._json(status, result)

    def _click(self, body: bytes) -> None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" or not self._same_origin():
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "forbidden"})
            return
        try:
            data = json.loads(body)
            message_ts, action_id, user_id = (
                str(data["message_ts"]),
                str(data["action_id"]),
                str(data["user_id"]),
            )
        except (ValueError, KeyError, TypeError):
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "need message_ts, action_id, user_id"})
            return
        try:
            status, text = self.slack.click(message_ts, action_id, user_id)
        except LocalSlackError as exc:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "status": status, "body": text[:2000]})

    def _response_url(self, response_id: str, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "invalid_json"})
            return
        try:
            self.slack._respond(response_id, data)
        except _ApiError as exc:
            status = exc.status if exc.status != HTTPStatus.OK else HTTPStatus.BAD_REQUEST
            self._json(status, {"ok": False, "error": exc.code})
            return
        self._json(HTTPStatus.OK, {"ok": True})


def _single(parsed: Mapping[str, list[str]]) -> dict[str, Any]:
    return {key: values[-1] for key, values in parsed.items() if values}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the stand-in in the foreground (Ctrl-C stops it).

    The bot token and signing secret come from ``LOCAL_SLACK_BOT_TOKEN`` and
    ``LOCAL_SLACK_SIGNING_SECRET`` (never from the command line, never printed).
    """
    parser = argparse.ArgumentParser(description="Local Slack Web API stand-in with a web inbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interactions-url", default=None)
    ns = parser.parse_args(argv)
    token = os.environ.get("LOCAL_SLACK_BOT_TOKEN", "")
    secret = os.environ.get("LOCAL_SLACK_SIGNING_SECRET", "")
    if not token or not secret:
        parser.error("set LOCAL_SLACK_BOT_TOKEN and LOCAL_SLACK_SIGNING_SECRET")
    logging.basicConfig(level=logging.INFO)
    with LocalSlackServer(token, secret, interactions_url=ns.interactions_url, port=ns.port):
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
