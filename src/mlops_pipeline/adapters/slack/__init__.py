"""Slack adapter: Web API client, Block Kit views, request signatures, interaction payloads."""

from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.adapters.slack.errors import SlackError
from mlops_pipeline.adapters.slack.interactions import BlockAction, parse_block_action
from mlops_pipeline.adapters.slack.signature import raw_body_of, verify_request

__all__ = [
    "BlockAction",
    "SlackError",
    "SlackNotifier",
    "parse_block_action",
    "raw_body_of",
    "verify_request",
]
