"""SlackNotifier's retry handlers against a server that rate-limits, and waiting for messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.adapters.slack.errors import SlackError
from mlops_pipeline.local.stack.slack_standin import LocalSlackError, LocalSlackServer

pytestmark = pytest.mark.functional


@pytest.fixture
def rate_limited() -> Iterator[dict[str, Any]]:
    """A Slack-like API answering 429 (Retry-After: 0) ``limit`` times, then ok."""
    state: dict[str, Any] = {"limit": 1, "calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state["calls"] += 1
            if state["calls"] <= state["limit"]:
                body = b'{"ok": false, "error": "ratelimited"}'
                self.send_response(429)
                self.send_header("Retry-After", "0")
            else:
                body = json.dumps({"ok": True, "channel": "C0PIPELINE", "ts": "1800000000.000100"}).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/api/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_rate_limited_call_is_retried(rate_limited: dict[str, Any], bot_token: str) -> None:
    ref = SlackNotifier(bot_token, base_url=rate_limited["url"], max_retries=2).post("C0PIPELINE", "hi")
    assert ref.ts == "1800000000.000100"
    assert rate_limited["calls"] == 2


def test_rate_limit_beyond_the_retries_is_a_slack_error(rate_limited: dict[str, Any], bot_token: str) -> None:
    rate_limited["limit"] = 10
    with pytest.raises(SlackError, match=r"chat.postMessage failed: ratelimited"):
        SlackNotifier(bot_token, base_url=rate_limited["url"], max_retries=1).post("C0PIPELINE", "hi")
    assert rate_limited["calls"] == 2


def test_wait_for_message_sees_posts_and_edits(slack: LocalSlackServer, notifier: SlackNotifier) -> None:
    ref = notifier.post("C0PIPELINE", "pending")
    timer = threading.Timer(0.2, lambda: notifier.update(ref, "Approved by <@U0APPROVER>"))
    timer.start()
    try:
        msg = slack.wait_for_message(lambda m: m.text.startswith("Approved"), timeout=10)
    finally:
        timer.join()
    assert msg.ts == ref.ts
    with pytest.raises(LocalSlackError, match=r"within 0\.2 s"):
        slack.wait_for_message(lambda m: m.text == "never", timeout=0.2)
