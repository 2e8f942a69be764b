"""Fixtures for the Slack area: the local Slack stand-in and a tiny interactions receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient

from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer

BOT_TOKEN = "xoxb-local-test-token-0123456789"
SIGNING_SECRET = "local-test-signing-secret-abcdef"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP endpoint standing in for the callback Lambda: records requests, answers as told."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b'{"ok": true}'


@pytest.fixture
def bot_token() -> str:
    return BOT_TOKEN


@pytest.fixture
def signing_secret() -> str:
    return SIGNING_SECRET


@pytest.fixture
def slack() -> Iterator[LocalSlackServer]:
    with LocalSlackServer(BOT_TOKEN, SIGNING_SECRET) as server:
        yield server


@pytest.fixture
def notifier(slack: LocalSlackServer) -> SlackNotifier:
    return SlackNotifier(BOT_TOKEN, base_url=slack.api_url)


@pytest.fixture
def web(slack: LocalSlackServer) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec: Receiver = state["receiver"]
            length = int(self.headers.get("Content-Length") or 0)
            rec.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(rec.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(rec.reply)))
            self.end_headers()
            self.wfile.write(rec.reply)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/slack/interactions")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
