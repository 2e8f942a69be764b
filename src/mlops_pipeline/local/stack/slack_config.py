"""The real-Slack mode: the ``MLOPS_SLACK_*`` variables that point the pipeline at a real workspace.

Read from the environment only (never from files or the state file), by the daemon when it
provisions the secret and by the client when it signs an approval for that workspace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_pipeline.local.stack.errors import SlackConfigError

# The real-Slack mode: all three set -> the pipeline talks to this Slack workspace.
SLACK_ENV = ("MLOPS_SLACK_BOT_TOKEN", "MLOPS_SLACK_SIGNING_SECRET", "MLOPS_SLACK_CHANNEL")
SLACK_API_URL_ENV = "MLOPS_SLACK_API_URL"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackConfig:
    """A real Slack app's credentials and channel (from the environment, never from files)."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    channel: str
    api_url: str = DEFAULT_SLACK_API_URL


def slack_config_from_env(env: Mapping[str, str] | None = None) -> SlackConfig | None:
    """The real-Slack configuration, None when none of its variables is set.

    SlackConfigError when only some are set or a value is malformed, so that ``local up``
    refuses before anything starts rather than half-configuring Slack.
    """
    env = os.environ if env is None else env
    values = {name: env.get(name, "").strip() for name in SLACK_ENV}
    given = [name for name, value in values.items() if value]
    if not given:
        return None
    missing = [name for name in SLACK_ENV if not values[name]]
    if missing:
        raise SlackConfigError(
            f"real Slack needs {', '.join(SLACK_ENV)} together; missing: {', '.join(missing)} "
            "(unset them all to use the local Slack stand-in)"
        )
    token, channel = values["MLOPS_SLACK_BOT_TOKEN"], values["MLOPS_SLACK_CHANNEL"]
    if not token.startswith("xoxb-"):
        raise SlackConfigError("MLOPS_SLACK_BOT_TOKEN must be a bot token (xoxb-...)")
    if not channel.isalnum() or not channel[:1].isupper():
        raise SlackConfigError(f"MLOPS_SLACK_CHANNEL must be a channel id such as C0123ABCD, not {channel!r}")
    api_url = env.get(SLACK_API_URL_ENV, "").strip() or DEFAULT_SLACK_API_URL
    if not api_url.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):
        raise SlackConfigError(f"{SLACK_API_URL_ENV} must be https:// (or a loopback http:// URL)")
    if not api_url.endswith("/"):
        api_url += "/"
    return SlackConfig(token, values["MLOPS_SLACK_SIGNING_SECRET"], channel, api_url)
