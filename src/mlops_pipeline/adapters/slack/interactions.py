"""Parsing of Slack interaction payloads (``block_actions`` from the approval and rollback buttons).

Call only after :func:`mlops_pipeline.adapters.slack.signature.verify_request`
accepted the request. Anything unexpected raises BadRequestError with a reason;
nothing here trusts the payload beyond the approval id pattern and string types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from mlops_pipeline.adapters.slack.errors import BadRequestError
from mlops_pipeline.adapters.slack.ids import APPROVE_ACTION_ID, REJECT_ACTION_ID

__all__ = [
    "ALLOWED_ACTIONS",
    "APPROVAL_ID_PATTERN",
    "MAX_BODY_BYTES",
    "ROLLBACK_ACTION_ID",
    "ROLLBACK_ID_PATTERN",
    "BlockAction",
    "parse_block_action",
]

MAX_BODY_BYTES = 64 * 1024
# The "Roll back prod" button on a run's final success message; its value is the run's
# execution name (a Step Functions name: letters, digits, - and _, at most 80).
ROLLBACK_ACTION_ID = "rollback_prod"
ALLOWED_ACTIONS = frozenset({APPROVE_ACTION_ID, REJECT_ACTION_ID, ROLLBACK_ACTION_ID})
APPROVAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ROLLBACK_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_SLACK_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


@dataclass(frozen=True)
class BlockAction:
    """One button click: on an approval card, or on a run's final message (rollback)."""

    action_id: str  # "approve" | "reject" | "rollback_prod"
    approval_id: str  # the button's value: the approval id, or the rollback's id (execution name)
    user_id: str
    user_name: str
    team_id: str
    channel_id: str
    message_ts: str
    response_url: str


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_block_action(raw_body: bytes) -> BlockAction:
    """The click in a ``payload=<JSON>`` form body; BadRequestError for anything else."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise BadRequestError(f"body too large ({len(raw_body)} bytes, limit {MAX_BODY_BYTES})")
    try:
        text = raw_body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except UnicodeDecodeError:
        raise BadRequestError("body is not UTF-8") from None
    except ValueError:
        raise BadRequestError("body is not a form (too many fields)") from None
    values = fields.get("payload")
    if not values:
        raise BadRequestError("no payload field in the form body")
    if len(values) != 1:
        raise BadRequestError("more than one payload field")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError):
        raise BadRequestError("payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequestError("payload is not a JSON object")
    if payload.get("type") != "block_actions":
        kind = payload.get("type")
        shown = kind if isinstance(kind, str) and len(kind) <= 40 else type(kind).__name__
        raise BadRequestError(f"payload type is {shown!r}, expected 'block_actions'")

    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise BadRequestError("payload has no actions")
    if len(actions) != 1:
        raise BadRequestError(f"payload has {len(actions)} actions, expected exactly one")
    action = _obj(actions[0])
    action_id = action.get("action_id")
    if not isinstance(action_id, str) or action_id not in ALLOWED_ACTIONS:
        raise BadRequestError("unknown action_id (expected approve, reject or rollback_prod)")
    if action.get("type", "button") != "button":
        raise BadRequestError("action is not a button")
    approval_id = action.get("value")
    pattern = ROLLBACK_ID_PATTERN if action_id == ROLLBACK_ACTION_ID else APPROVAL_ID_PATTERN
    if not isinstance(approval_id, str) or not pattern.match(approval_id):
        what = "rollback id" if action_id == ROLLBACK_ACTION_ID else "approval id"
        raise BadRequestError(f"{what} in the button value is missing or malformed")

    user = _obj(payload.get("user"))
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequestError("payload has no user id")
    if not _SLACK_ID.match(user_id):
        raise BadRequestError("user id is malformed")

    team = _obj(payload.get("team"))
    channel = _obj(payload.get("channel"))
    container = _obj(payload.get("container"))
    message = _obj(payload.get("message"))
    return BlockAction(
        action_id=str(action_id),
        approval_id=approval_id,
        user_id=user_id,
        user_name=_text(user.get("username")) or _text(user.get("name")),
        team_id=_text(user.get("team_id")) or _text(team.get("id")),
        channel_id=_text(channel.get("id")) or _text(container.get("channel_id")),
        message_ts=_text(container.get("message_ts")) or _text(message.get("ts")),
        response_url=_text(payload.get("response_url")),
    )
