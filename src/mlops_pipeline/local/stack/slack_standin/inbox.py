"""The web inbox: the page (``static/inbox.html``) and the state it polls.

The page shows every channel's threads, newest first, with edits, ephemerals and the last
clicks; its Approve/Reject buttons post to ``/_inbox/click``, which the server turns into a
signed interaction (:mod:`.interactions`).
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

from mlops_pipeline.local.stack.slack_standin.workspace import (
    TEAM_DOMAIN,
    TEAM_ID,
    SlackMessage,
    Workspace,
    user_json,
)

# The page runs only its own inline script and talks only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}


def inbox_page() -> bytes:
    return (
        resources.files("mlops_pipeline.local.stack.slack_standin").joinpath("static/inbox.html").read_bytes()
    )


def inbox_state(ws: Workspace) -> dict[str, Any]:
    """Everything the inbox page shows, as JSON-ready data."""
    with ws.lock:
        # One pass over the messages: roots per channel, replies per root.
        roots: dict[str, list[SlackMessage]] = {c: [] for c in ws.channels}
        replies: dict[str, list[SlackMessage]] = {}
        for msg in ws.messages():
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
            for channel in ws.channels.values()
        ]
        return {
            "version": ws.version,
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "interactions_url": ws.interactions_url,
            "users": [
                {**user_json(u), "groups": [g for g, m in ws.usergroups.items() if u.id in m]}
                for u in ws.users.values()
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
                for e in ws.ephemeral_log
            ],
            "clicks": copy.deepcopy(ws.click_log[-20:]),
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
