"""The Slack stand-in's server: :class:`LocalSlackServer` binds 127.0.0.1 and serves in a thread.

It puts the pieces together (one :class:`Workspace`, its :class:`WebApi`, :class:`Interactions`
and the inbox behind one HTTP handler) and is the one object callers use: start/stop, the
URLs, and the workspace's messages, clicks and inbox state.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from mlops_pipeline.local.stack.slack_standin.http_handler import SlackRequestHandler
from mlops_pipeline.local.stack.slack_standin.inbox import inbox_state
from mlops_pipeline.local.stack.slack_standin.interactions import Interactions
from mlops_pipeline.local.stack.slack_standin.web_api import WebApi
from mlops_pipeline.local.stack.slack_standin.workspace import (
    LocalChannel,
    LocalSlackError,
    LocalUser,
    SlackEphemeral,
    SlackMessage,
    Workspace,
)

log = logging.getLogger(__name__)


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
        self._host = host
        self._requested_port = port
        self._workspace = Workspace(users, usergroups, channels, interactions_url)
        self._web_api = WebApi(self._workspace, bot_token, lambda: self.url)
        self._interactions = Interactions(
            self._workspace, signing_secret, lambda: self.url, click_timeout_seconds
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> LocalSlackServer:
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        server = self

        class Handler(SlackRequestHandler):
            workspace = server._workspace
            web_api = server._web_api
            interactions = server._interactions

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
        return self._workspace.interactions_url

    @interactions_url.setter
    def interactions_url(self, value: str | None) -> None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("interactions_url must be an http(s) URL")
        with self._workspace.lock:
            self._workspace.interactions_url = value
            self._workspace.touch()

    @property
    def users(self) -> tuple[LocalUser, ...]:
        return tuple(self._workspace.users.values())

    @property
    def channels(self) -> tuple[LocalChannel, ...]:
        return tuple(self._workspace.channels.values())

    @property
    def usergroups(self) -> dict[str, tuple[str, ...]]:
        return dict(self._workspace.usergroups)

    def add_channel(self, channel_id: str, name: str) -> None:
        self._workspace.add_channel(channel_id, name)

    # ----------------------------------------------------------------- fault injection
    def set_faults(self, faults: Mapping[str, int]) -> None:
        """Make Web API methods answer an HTTP status (429 or 5xx) instead, as during an outage
        (e.g. ``{"chat.postMessage": 500}``); ``{}`` ends it. Also over HTTP: ``/_control/faults``."""
        self._workspace.set_faults(faults)

    @property
    def faults(self) -> dict[str, int]:
        with self._workspace.lock:
            return dict(self._workspace.faults)

    @property
    def fault_hits(self) -> dict[str, int]:
        """How many calls each faulty method refused so far."""
        with self._workspace.lock:
            return dict(self._workspace.fault_hits)

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
        return self._workspace.wait_for_message(predicate, timeout, channel)

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Every message (roots and replies) in posting order, optionally of one channel."""
        return self._workspace.messages(channel)

    def thread(self, ts: str) -> list[SlackMessage]:
        """The root message with ``ts`` and its replies in order; empty if unknown."""
        return self._workspace.thread(ts)

    def message(self, ts: str) -> SlackMessage | None:
        return self._workspace.message(ts)

    def ephemerals(self) -> list[SlackEphemeral]:
        return self._workspace.ephemerals()

    def clicks(self) -> list[dict[str, Any]]:
        """What each click sent and what the interactions endpoint answered."""
        return self._workspace.clicks()

    def inbox_state(self) -> dict[str, Any]:
        """Everything the inbox page shows, as JSON-ready data."""
        return inbox_state(self._workspace)

    # ----------------------------------------------------------------- acting
    def click(self, message_ts: str, action_id: str, user_id: str) -> tuple[int, str]:
        """Click a button like a Slack user would; returns the endpoint's status and body.

        Builds Slack's ``block_actions`` payload, signs it with the signing secret and
        POSTs it as ``payload=<JSON>`` to ``interactions_url``.
        """
        return self._interactions.click(message_ts, action_id, user_id)

    def decide_without_card(
        self, approval_id: str, action_id: str, user_id: str, channel: str
    ) -> tuple[int, str]:
        """Approve or reject an approval whose card was never posted: the signed payload a click
        on that card would send (also ``POST /_inbox/decide``)."""
        return self._interactions.decide_without_card(approval_id, action_id, user_id, channel)

    def interaction_body(self, message_ts: str, action_id: str, user_id: str) -> bytes:
        """The exact form body Slack would send for this click (unsigned)."""
        return self._interactions.interaction_body(message_ts, action_id, user_id)

    def api(self, method: str, args: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """Run one Web API method; returns Slack's envelope (``ok`` true or false)."""
        return self._web_api.call(method, args, token)


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
