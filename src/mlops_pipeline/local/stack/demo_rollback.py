"""``mlops-pipeline demo --roll-back``: after a successful run, roll prod back from Slack.

The approver clicks the "Roll back prod" button of the run's final message in the Slack
stand-in (Slack's signed payload, like a human's click); the demo then waits for the
``RollbackProdByHand`` line in the run's thread and reads where prod's ``live`` and the
registry's ``production`` alias are now::

    rolled back from Slack: prod live v3 -> v2, registry production -> version 1
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from mlops_pipeline.adapters.slack.interactions import ROLLBACK_ACTION_ID
from mlops_pipeline.local.stack.client import StackClient, card_buttons
from mlops_pipeline.local.stack.demo import alias_version
from mlops_pipeline.local.stack.state import APPROVER

ROLLBACK_STEP = "RollbackProdByHand"
NOTHING_TO_ROLL_BACK = "no previous prod version: push again, then roll back"


@dataclass(frozen=True)
class RollbackDemo:
    """What became of the click: ``ok`` only when prod moved back and the registry followed."""

    ok: bool
    line: str


def rollback_button(messages: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The (message ts, button) of the newest "Roll back prod" button in a thread (None: none)."""
    for message in reversed(messages):
        for button in card_buttons(message):
            if button.get("action_id") == ROLLBACK_ACTION_ID:
                return str(message["ts"]), button
    return None


def rollback_line(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The (status, detail) of the newest ``RollbackProdByHand`` line of a thread (None: none yet).

    The line is the reporter's plain text: ``<emoji> RollbackProdByHand <status>: <detail>``,
    escaped for Slack (``&lt;@U0APPROVER&gt;``): the detail comes back unescaped.
    """
    for message in reversed(messages):
        text = str(message.get("text") or "")
        _, found, rest = text.partition(f"{ROLLBACK_STEP} ")
        if found:
            status, _, detail = rest.partition(":")
            return status.strip().lower(), html.unescape(detail.strip())
    return None


def summary_line(status: str, detail: str, before: str, after: str, registry: str) -> RollbackDemo:
    """The demo's last rollback line from the thread's status and what prod and the registry say."""
    if status == "succeeded":
        return RollbackDemo(
            before != after,
            f"rolled back from Slack: prod live v{before} -> v{after}, registry production -> "
            f"version {registry or '?'}",
        )
    return RollbackDemo(False, f"rollback from Slack {status or 'unanswered'}: {detail or '-'}")


def _registry_production(client: StackClient, model: str) -> str:
    """The version behind the registry's ``production`` alias of ``model`` ("" when unreadable)."""
    from mlflow import MlflowClient

    try:
        version = MlflowClient(tracking_uri=client.info.mlflow_url).get_model_version_by_alias(
            model, "production"
        )
    except Exception:  # the summary says "?" rather than failing the demo after the fact
        return ""
    return str(version.version)


def roll_back_from_slack(
    client: StackClient,
    execution: str,
    model: str,
    approver: str = APPROVER,
    timeout: float = 180.0,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
    live_version: Callable[[], str] | None = None,
    registry_version: Callable[[], str] | None = None,
) -> RollbackDemo:
    """Click the run's "Roll back prod" as ``approver`` and wait (up to ``timeout``) for its line."""
    console = console or Console(highlight=False)
    read_live = live_version or (lambda: alias_version(client, "prod", model))
    read_registry = registry_version or (lambda: _registry_production(client, model))
    if client.real_slack:
        return RollbackDemo(
            False,
            f"this stack posts to Slack channel {client.info.channel}: click Roll back prod there, "
            f"or run `mlops-pipeline rollback --env prod --model {model}`",
        )
    run = client.runs().get(execution)
    thread_ts = str(getattr(run, "slack_thread_ts", "") or "")
    found = rollback_button(client.thread(thread_ts)) if thread_ts else None
    if found is None:
        return RollbackDemo(False, f"nothing to roll back: {NOTHING_TO_ROLL_BACK}")
    before = read_live()
    ephemerals = len(client.inbox().get("ephemerals") or [])
    status_code, body = client.click(found[0], ROLLBACK_ACTION_ID, approver)
    console.print(f"Roll back prod clicked as {approver} (signed interaction, HTTP {status_code})")
    if status_code != 200:
        return RollbackDemo(False, f"the interactions endpoint answered {status_code}: {body[:300]}")
    deadline = time.monotonic() + timeout
    waited = 0
    while True:
        line = rollback_line(client.thread(thread_ts))
        if line is not None:
            return summary_line(*line, before=before, after=read_live(), registry=read_registry())
        # A click refused before anything started (not an approver, claimed already) only gets
        # an ephemeral answer: no line will come.
        for answer in (client.inbox().get("ephemerals") or [])[ephemerals:]:
            if answer.get("user") == approver and str(answer.get("text", "")).startswith("Refused"):
                return RollbackDemo(False, f"rollback from Slack refused: {answer['text']}")
        if waited >= timeout or time.monotonic() > deadline:
            return RollbackDemo(False, f"no {ROLLBACK_STEP} line in the run's thread within {timeout:.0f}s")
        if waited % 5 == 0:
            console.print(f"  waiting for the {ROLLBACK_STEP} line in the run's thread ({waited}s)")
        sleep(1.0)
        waited += 1
