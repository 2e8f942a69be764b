"""Slack adapter: Web API client, Block Kit views, request signatures, interaction payloads.

Importing this package (which every import of a submodule does) loads nothing else: the names
below are resolved on first access. The interactions endpoint imports ``errors``,
``signature`` and ``interactions`` before it answers a click, and must not pay for
slack_sdk's Web API client (a few hundred ms of a cold start) unless it posts to Slack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_pipeline.adapters.slack.client import SlackNotifier
    from mlops_pipeline.adapters.slack.errors import SlackError
    from mlops_pipeline.adapters.slack.interactions import BlockAction, parse_block_action
    from mlops_pipeline.adapters.slack.signature import raw_body_of, verify_request

# Public name -> the submodule that defines it.
_LAZY = {
    "BlockAction": "interactions",
    "SlackError": "errors",
    "SlackNotifier": "client",
    "parse_block_action": "interactions",
    "raw_body_of": "signature",
    "verify_request": "signature",
}

__all__ = [
    "BlockAction",
    "SlackError",
    "SlackNotifier",
    "parse_block_action",
    "raw_body_of",
    "verify_request",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
