"""A local Slack stand-in: the Web API methods the pipeline uses, plus a web inbox.

The real ``slack_sdk.WebClient`` talks to it (``base_url=server.api_url``). Messages,
threads, edits and ephemerals are kept in memory. The inbox at ``/`` shows them and
its Approve/Reject buttons send ``block_actions`` payloads, signed exactly like Slack
signs them, to ``interactions_url`` (the local callback endpoint).

Import :class:`LocalSlackServer` (and the message types) from here. Run standalone:
``python -m mlops_pipeline.local.stack.slack_standin --port 8990``.
"""

from mlops_pipeline.local.stack.slack_standin.server import LocalSlackServer, main
from mlops_pipeline.local.stack.slack_standin.workspace import (
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    LocalChannel,
    LocalSlackError,
    LocalUser,
    SlackEphemeral,
    SlackMessage,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_USERGROUPS",
    "DEFAULT_USERS",
    "LocalChannel",
    "LocalSlackError",
    "LocalSlackServer",
    "LocalUser",
    "SlackEphemeral",
    "SlackMessage",
    "main",
]
