"""Button clicks, as Slack delivers them: signed ``block_actions`` payloads and response URLs.

A click builds exactly the form body Slack would send, signs it with the app's signing secret
and POSTs it to the interactions URL (the local callback endpoint); the payload's
``response_url`` points back here, where an answer replaces the card or shows ephemerally.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from mlops_pipeline.adapters.slack.signature import sign
from mlops_pipeline.local.stack.slack_standin.web_api import opt_str, parse_blocks
from mlops_pipeline.local.stack.slack_standin.workspace import (
    APP_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    ApiError,
    LocalChannel,
    LocalSlackError,
    SlackEphemeral,
    StoredMessage,
    Workspace,
    as_api_message,
)


class Interactions:
    """Clicks on the workspace's messages; ``base_url`` is where response URLs are served."""

    def __init__(
        self,
        workspace: Workspace,
        signing_secret: str,
        base_url: Callable[[], str],
        click_timeout_seconds: float = 60.0,
    ) -> None:
        self._ws = workspace
        self._signing_secret = signing_secret
        self._base_url = base_url
        self._click_timeout = click_timeout_seconds

    def click(self, message_ts: str, action_id: str, user_id: str) -> tuple[int, str]:
        """Click a button like a Slack user would; returns the endpoint's status and body.

        Builds Slack's ``block_actions`` payload, signs it with the signing secret and
        POSTs it as ``payload=<JSON>`` to ``interactions_url``.
        """
        return self._send(
            self.interaction_body(message_ts, action_id, user_id), message_ts, action_id, user_id
        )

    def decide_without_card(
        self, approval_id: str, action_id: str, user_id: str, channel: str
    ) -> tuple[int, str]:
        """A decision on an approval whose card was never posted (Slack was down when it was
        requested): the payload a click on its card carries, without the message, signed and
        sent like a click. Locally this plays an operator holding the signing secret."""
        ws = self._ws
        with ws.lock:
            user = ws.users.get(user_id)
            if user is None:
                raise LocalSlackError(f"no user {user_id} in the local workspace")
            if action_id not in ("approve", "reject"):
                raise LocalSlackError(f"action must be approve or reject, not {action_id!r}")
            payload = {
                "type": "block_actions",
                "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "container": {"type": "message", "message_ts": "", "channel_id": channel},
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "channel": {"id": channel},
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "approval",
                        "value": approval_id,
                        "type": "button",
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")
        return self._send(body, "", action_id, user_id)

    def _send(self, body: bytes, message_ts: str, action_id: str, user_id: str) -> tuple[int, str]:
        """Sign ``body`` as Slack does and POST it to the interactions URL; logged as a click."""
        ws = self._ws
        url = ws.interactions_url
        if not url:
            raise LocalSlackError("interactions_url is not set; nowhere to send the click")
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
        with ws.lock:
            ws.click_log.append(
                {
                    "at": time.time(),
                    "message_ts": message_ts,
                    "action_id": action_id,
                    "user_id": user_id,
                    "status": status,
                    "body": text[:2000],
                }
            )
            del ws.click_log[:-100]
            ws.touch()
        return status, text

    def interaction_body(self, message_ts: str, action_id: str, user_id: str) -> bytes:
        """The exact form body Slack would send for this click (unsigned)."""
        ws = self._ws
        with ws.lock:
            msg = ws.stored.get(message_ts)
            if msg is None:
                raise LocalSlackError(f"no message with ts {message_ts}")
            user = ws.users.get(user_id)
            if user is None:
                raise LocalSlackError(f"no user {user_id} in the local workspace")
            block_id, button = _find_button(msg, action_id)
            channel = ws.channels.get(msg.channel, LocalChannel(msg.channel, msg.channel))
            response_id = secrets.token_urlsafe(12)
            ws.response_urls[response_id] = (msg.channel, msg.ts, user.id)
            while len(ws.response_urls) > 1000:  # bounded: oldest response URLs lapse
                ws.response_urls.pop(next(iter(ws.response_urls)))
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
                "message": as_api_message(snapshot),
                "state": {"values": {}},
                "response_url": f"{self._base_url()}_response/{response_id}",
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

    def respond(self, response_id: str, data: Mapping[str, Any]) -> None:
        """A POST to a ``response_url``: replace the original message or answer ephemerally."""
        ws = self._ws
        with ws.lock:
            target = ws.response_urls.get(response_id)
            if target is None:
                raise ApiError("invalid_response_url", HTTPStatus.NOT_FOUND)
            channel, message_ts, user = target
            text = opt_str(data.get("text"))
            blocks = parse_blocks(data.get("blocks"))
            if data.get("replace_original") in (True, "true"):
                msg = ws.stored[message_ts]
                msg.edits.append({"text": msg.text, "blocks": msg.blocks, "replaced_at": ws.next_ts()})
                msg.text = text or msg.text
                msg.blocks = blocks if blocks is not None else []
            elif data.get("delete_original") in (True, "true"):
                raise ApiError("not_supported_locally", HTTPStatus.BAD_REQUEST)
            else:
                if not text and not blocks:
                    raise ApiError("no_text", HTTPStatus.BAD_REQUEST)
                ws.ephemeral_log.append(SlackEphemeral(channel, user, text, ws.next_ts(), None, blocks or []))
            ws.touch()


def _find_button(msg: StoredMessage, action_id: str) -> tuple[str, dict[str, Any]]:
    for block in msg.blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return str(block.get("block_id") or "actions"), element
    raise LocalSlackError(f"message {msg.ts} has no button with action_id {action_id!r}")
