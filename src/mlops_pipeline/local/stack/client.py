"""Talking to a running local stack from any process: :class:`StackClient`.

What the CLI (``local approve``/``reject``, ``runs``), the demo and the tests use: boto3
clients per account, the Slack inbox (or the real Slack thread), run records, the pending
approval, and a click sent as Slack's signed ``block_actions`` payload.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from mlops_pipeline.local.stack.errors import LocalStackError
from mlops_pipeline.local.stack.slack_config import SLACK_ENV, SlackConfig, slack_config_from_env
from mlops_pipeline.local.stack.state import APPROVER, StackInfo


class StackClient:
    """Clients for a running local stack, from any process."""

    def __init__(self, info: StackInfo) -> None:
        self.info = info

    def client(self, service: str, account: str = "tooling") -> Any:
        import boto3

        keys = self.info.credentials[account]
        return boto3.client(
            service,
            endpoint_url=self.info.endpoint_url,
            region_name=self.info.region,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def env(self, account: str = "tooling") -> dict[str, str]:
        """Variables for a subprocess acting in ``account`` against the emulator."""
        return {
            **self.info.credentials[account],
            "AWS_REGION": self.info.region,
            "AWS_DEFAULT_REGION": self.info.region,
            "AWS_ENDPOINT_URL": self.info.endpoint_url,
        }

    # -- Slack inbox
    def _http(self, url: str, data: bytes | None = None, timeout: float = 30.0) -> Any:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if not url.startswith("http://127.0.0.1:"):
            raise LocalStackError(f"refusing a non-loopback URL from the state file: {url}")
        method = "POST" if data else "GET"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            raise LocalStackError(f"{url} answered {exc.code}: {body[:500]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LocalStackError(f"{url} unreachable ({exc}); is the local stack running?") from exc

    @property
    def real_slack(self) -> bool:
        """True when the stack talks to a real Slack workspace (no inbox)."""
        return self.info.slack_mode == "slack"

    def inbox(self) -> dict[str, Any]:
        if self.real_slack:
            raise LocalStackError(f"no Slack inbox: this stack posts to Slack channel {self.info.channel}")
        return dict(self._http(f"{self.info.slack_inbox_url}_inbox/state"))

    def _slack_config(self) -> SlackConfig:
        config = slack_config_from_env()
        if config is None:
            raise LocalStackError(
                f"this stack uses real Slack: set {', '.join(SLACK_ENV)} in this shell too "
                "(the same values as for `local up`)"
            )
        return config

    def thread(self, thread_ts: str) -> list[dict[str, Any]]:
        """Root and replies of one Slack thread, oldest first (empty when unknown)."""
        if self.real_slack:
            from slack_sdk import WebClient
            from slack_sdk.errors import SlackApiError

            config = self._slack_config()
            web = WebClient(token=config.bot_token, base_url=self.info.slack_api_url)
            try:
                answer = web.conversations_replies(channel=self.info.channel, ts=thread_ts, limit=200)
            except SlackApiError as exc:
                if exc.response.get("error") == "thread_not_found":
                    return []
                raise LocalStackError(
                    f"Slack conversations.replies failed: {exc.response.get('error')}"
                ) from exc
            return [dict(m) for m in answer.get("messages") or []]
        for channel in self.inbox()["channels"]:
            for thread in channel["threads"]:
                if thread["root"]["ts"] == thread_ts:
                    return [thread["root"], *thread["replies"]]
        return []

    def click(self, message_ts: str, action: str, user: str = APPROVER) -> tuple[int, str]:
        """Click a card button in the inbox: it sends Slack's signed payload to the endpoint."""
        body = json.dumps({"message_ts": message_ts, "action_id": action, "user_id": user}).encode()
        answer = self._http(f"{self.info.slack_inbox_url}_inbox/click", data=body, timeout=120)
        return int(answer.get("status", 0)), str(answer.get("body", ""))

    # -- runs
    def runs(self) -> Any:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore

        return DynamoRunStore(self.info.table, client=self.client("dynamodb"))

    def pending_approval(self, execution: str, with_card: bool = True) -> Any:
        """The pending :class:`Approval` of ``execution`` from DynamoDB (None when none); with
        ``with_card=False`` also one whose card was never posted (Slack was down)."""
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        run = self.runs().get(execution)
        if run is None:
            return None
        db = self.client("dynamodb")
        store = DynamoApprovalStore(self.info.table, client=db)
        if run.model:
            candidates = list(store.list_pending(run.model))
        else:  # the run record does not name its model yet: find the approval by its execution
            pages = db.get_paginator("scan").paginate(
                TableName=self.info.table,
                FilterExpression="sk = :sk AND #e = :e AND #s = :p",
                ExpressionAttributeNames={"#e": "execution", "#s": "status"},
                ExpressionAttributeValues={
                    ":sk": {"S": "APPROVAL"},
                    ":e": {"S": execution},
                    ":p": {"S": "PENDING"},
                },
            )
            ids = [item["id"]["S"] for page in pages for item in page.get("Items", [])]
            candidates = [a for a in (store.get(i) for i in ids) if a is not None]
        for approval in candidates:
            pending = approval.execution == execution and approval.status.value == "PENDING"
            if pending and (approval.slack_ts or not with_card):
                return approval
        return None

    def approval_card(self, execution: str) -> dict[str, Any] | None:
        """The open approval card (a message with buttons) of ``execution``'s thread, if any."""
        if self.real_slack:
            # No inbox to read: the card as the pipeline recorded it (approval id = button value).
            approval = self.pending_approval(execution)
            if approval is None:
                return None
            buttons = [
                {"type": "button", "action_id": action, "value": approval.id}
                for action in ("approve", "reject")
            ]
            return {
                "ts": approval.slack_ts,
                "channel": approval.slack_channel or self.info.channel,
                "approval_id": approval.id,
                "blocks": [{"type": "actions", "block_id": "approval", "elements": buttons}],
            }
        run = self.runs().get(execution)
        if run is None or not run.slack_thread_ts:
            return None
        for message in reversed(self.thread(run.slack_thread_ts)):
            if card_buttons(message):
                return message
        return None

    def resolve_execution(self, ref: str) -> str:
        """An execution ARN from an ARN, an execution name, a commit prefix, or ``latest``."""
        if ref.startswith("arn:"):
            return ref
        sfn = self.client("stepfunctions")
        executions = sfn.list_executions(stateMachineArn=self.info.state_machine_arn, maxResults=100)[
            "executions"
        ]
        executions.sort(key=lambda e: e["startDate"], reverse=True)
        if ref == "latest" and executions:
            return str(executions[0]["executionArn"])
        for execution in executions:
            if execution["name"] == ref or execution["name"].startswith(ref):
                return str(execution["executionArn"])
        raise LocalStackError(f"no execution matches {ref!r} (give an ARN, a name or 'latest')")

    def decide(self, execution: str, action: str, user: str = APPROVER) -> tuple[int, str]:
        """Approve or reject the pending approval of ``execution`` through the signed endpoint."""
        if action not in ("approve", "reject"):
            raise LocalStackError(f"action must be approve or reject, not {action!r}")
        card = self.approval_card(execution)
        if card is None:
            return self._decide_without_card(execution, action, user)
        if self.real_slack:
            return self.send_interaction(card, action, user)
        return self.click(str(card["ts"]), action, user)

    def _decide_without_card(self, execution: str, action: str, user: str) -> tuple[int, str]:
        """The approval is stored but its card was never posted (Slack was down): send what a
        click on it would, signed (by the stand-in, or with the app's secret for real Slack)."""
        approval = self.pending_approval(execution, with_card=False)
        if approval is None:
            raise LocalStackError(f"{execution} has no pending approval card")
        if self.real_slack:
            button = [{"type": "button", "action_id": action, "value": approval.id}]
            card = {"ts": "", "blocks": [{"type": "actions", "elements": button}]}
            return self.send_interaction(card, action, user)
        body = {
            "approval_id": approval.id,
            "action_id": action,
            "user_id": user,
            "channel": self.info.channel,
        }
        answer = self._http(
            f"{self.info.slack_inbox_url}_inbox/decide", data=json.dumps(body).encode(), timeout=120
        )
        return int(answer.get("status", 0)), str(answer.get("body", ""))

    def send_interaction(self, card: Mapping[str, Any], action: str, user: str) -> tuple[int, str]:
        """POST Slack's signed block_actions payload for ``card`` to the interactions gateway.

        Real Slack cannot reach a laptop, so this sends what Slack would, signed with the
        app's signing secret taken from the environment (never from the state file).
        """
        from mlops_pipeline.adapters.slack.signature import sign

        config = self._slack_config()
        body = block_actions_body(card, action, user, self.info.channel)
        headers = sign(body, config.signing_secret, int(time.time()))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = self.info.interactions_url
        if not url.startswith("http://127.0.0.1:"):
            raise LocalStackError(f"refusing a non-loopback URL from the state file: {url}")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise LocalStackError(f"{url} unreachable ({exc}); is the local stack running?") from exc


def block_actions_body(card: Mapping[str, Any], action: str, user: str, channel: str) -> bytes:
    """The ``payload=<JSON>`` form body of a click on ``card``'s ``action`` button (unsigned)."""
    if action not in ("approve", "reject"):
        raise LocalStackError(f"action must be approve or reject, not {action!r}")
    button = next((b for b in card_buttons(card) if b.get("action_id") == action), None)
    if button is None:
        raise LocalStackError(f"the card has no {action} button")
    channel_id = str(card.get("channel") or channel)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user},
        "container": {"type": "message", "message_ts": str(card["ts"]), "channel_id": channel_id},
        "channel": {"id": channel_id},
        "message": {"ts": str(card["ts"])},
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": "approval",
                "value": str(button.get("value", "")),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")


def card_buttons(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The buttons of an inbox message (an approval card has approve/reject)."""
    buttons: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            buttons += [e for e in block.get("elements", []) if e.get("type") == "button"]
    return buttons
