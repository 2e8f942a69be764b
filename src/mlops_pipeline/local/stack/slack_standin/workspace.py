"""The Slack stand-in's workspace: its users, channels and user groups, and every message in memory.

One :class:`Workspace` per server holds all mutable state (messages with their edit history,
ephemerals, the clicks sent, open response URLs) behind one lock; each change bumps a version
that the inbox polls and wakes whoever waits for a message. The Web API, the interactions and
the inbox all read and write through it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_pipeline.domain.errors import PipelineError

TEAM_ID = "T0LOCAL"
TEAM_DOMAIN = "local"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0LOCAL"
MAX_EDITS_KEPT = 50


class LocalSlackError(PipelineError):
    """The local Slack stand-in cannot do what was asked (unknown message/button, no endpoint)."""


class ApiError(Exception):
    """A Web API (or response URL) call fails with Slack's error ``code``."""

    def __init__(self, code: str, status: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


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


@dataclass
class StoredMessage:
    """A message as the workspace keeps it (mutable: ``chat.update`` edits it in place)."""

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


def as_api_message(msg: SlackMessage, reply_count: int | None = None) -> dict[str, Any]:
    """A message as Slack's API returns it."""
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


def user_json(user: LocalUser) -> dict[str, Any]:
    """A user as Slack's API returns it."""
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


class Workspace:
    """All state of the stand-in; callers that change it hold :attr:`lock` and call :meth:`touch`."""

    def __init__(
        self,
        users: Sequence[LocalUser] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        channels: Sequence[LocalChannel] | None = None,
        interactions_url: str | None = None,
    ) -> None:
        # Reentrant: Web API methods run under the lock and read through the public readers.
        self.lock = threading.RLock()
        self.users: dict[str, LocalUser] = {u.id: u for u in (users if users is not None else DEFAULT_USERS)}
        groups = usergroups if usergroups is not None else DEFAULT_USERGROUPS
        self.usergroups: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in groups.items()}
        self.channels: dict[str, LocalChannel] = {
            c.id: c for c in (channels if channels is not None else DEFAULT_CHANNELS)
        }
        self.stored: dict[str, StoredMessage] = {}  # by ts; ts is unique across channels here
        self.order: list[str] = []
        self.ephemeral_log: list[SlackEphemeral] = []
        self.click_log: list[dict[str, Any]] = []
        self.response_urls: dict[str, tuple[str, str, str]] = {}  # id -> (channel, message_ts, user)
        self.interactions_url = interactions_url
        # Fault injection: Web API method -> the HTTP status it answers instead (an outage).
        self.faults: dict[str, int] = {}
        self.fault_hits: dict[str, int] = {}
        self.version = 0
        self._last_ts_us = 0
        self._changed = threading.Condition(self.lock)

    def touch(self) -> None:
        """Record a change (the inbox polls the version; waiters wake up). Caller holds the lock."""
        self.version += 1
        self._changed.notify_all()

    def next_ts(self) -> str:
        """A new message timestamp, strictly increasing (Slack's ``ts`` is the message id)."""
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def resolve_channel(self, value: Any) -> str:
        """A channel id from an id or a (``#``)name; ``channel_not_found`` otherwise."""
        if not isinstance(value, str) or not value:
            raise ApiError("channel_not_found")
        if value in self.channels:
            return value
        name = value.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel.id
        raise ApiError("channel_not_found")

    def set_faults(self, faults: Mapping[str, int]) -> None:
        """From now on each named method answers its HTTP status (429 or 5xx) with Slack's
        ``fatal_error`` and does nothing; ``{}`` ends the outage. ValueError for another status."""
        bad = {m: s for m, s in faults.items() if not isinstance(s, int) or not (s == 429 or 500 <= s <= 599)}
        if bad:
            raise ValueError(f"a fault is HTTP 429 or 5xx, not {bad}")
        with self.lock:
            self.faults = dict(faults)
            self.touch()

    def fault(self, method: str) -> int | None:
        """The status ``method`` must answer now (counted in ``fault_hits``), or None."""
        with self.lock:
            status = self.faults.get(method)
            if status is not None:
                self.fault_hits[method] = self.fault_hits.get(method, 0) + 1
            return status

    def add_channel(self, channel_id: str, name: str) -> None:
        with self.lock:
            self.channels[channel_id] = LocalChannel(channel_id, name)
            self.touch()

    # -- reading (snapshots, never the stored objects)
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
        with self.lock:
            return [
                self.stored[ts].snapshot()
                for ts in self.order
                if channel is None or self.stored[ts].channel == channel
            ]

    def thread(self, ts: str) -> list[SlackMessage]:
        """The root message with ``ts`` and its replies in order; empty if unknown."""
        with self.lock:
            root = self.stored.get(ts)
            if root is None:
                return []
            root_ts = root.thread_ts or root.ts
            return [
                self.stored[t].snapshot()
                for t in self.order
                if t == root_ts or self.stored[t].thread_ts == root_ts
            ]

    def message(self, ts: str) -> SlackMessage | None:
        with self.lock:
            msg = self.stored.get(ts)
            return msg.snapshot() if msg else None

    def ephemerals(self) -> list[SlackEphemeral]:
        with self.lock:
            return list(self.ephemeral_log)

    def clicks(self) -> list[dict[str, Any]]:
        """What each click sent and what the interactions endpoint answered."""
        with self.lock:
            return copy.deepcopy(self.click_log)
