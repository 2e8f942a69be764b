"""Slack checks: the bot token is valid (``auth.test``) and the bot is in the channel
(``conversations.info`` -> ``is_member``). Both are reads; the token is never printed.

``conversations.info`` needs the ``channels:read`` scope (``groups:read`` for a private channel),
which the app manifest does not request (the pipeline itself never needs it): without it
Slack answers ``missing_scope`` and the membership check is a warning, not a failure.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from mlops_pipeline.doctor.result import CheckResult, failed, passed, skipped, warned

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
AUTH_CHECK = "Slack token"
CHANNEL = "Slack channel"
AUTH_FIX = (
    "use the app's Bot User OAuth Token (xoxb-..., OAuth & Permissions page; reinstall the app "
    "if it was revoked) in MLOPS_SLACK_BOT_TOKEN or --slack-token"
)
_AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
    }
)


def api_url_problem(url: str) -> str | None:
    """Why the token may not be sent to ``url`` (https, or http to a loopback host only), or None."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            return None
    return f"the Slack API URL must be https:// (or http:// to a loopback address), not {url!r}"


def slack_client(token: str, api_url: str = DEFAULT_SLACK_API_URL, timeout: int = 10) -> WebClient:
    """A WebClient for ``api_url`` (``WebClient`` joins base URL and method without a separator)."""
    base = api_url if api_url.endswith("/") else api_url + "/"
    return WebClient(token=token, base_url=base, timeout=timeout)


def _api_error(exc: SlackApiError) -> tuple[str, str]:
    response: Any = exc.response
    try:
        code = str(response.get("error") or "unknown_error")
        needed = str(response.get("needed") or "")
    except AttributeError:
        code, needed = "unknown_error", ""
    return code, needed


def no_token() -> tuple[CheckResult, CheckResult]:
    """Both Slack results when no token was given."""
    return (
        warned(AUTH_CHECK, "no token given: the Slack app is not checked", AUTH_FIX),
        skipped(CHANNEL, "needs the Slack token"),
    )


def check_slack_auth(client: WebClient) -> tuple[CheckResult, dict[str, Any] | None]:
    """``auth.test``: the token is a valid bot token; returns its identity (team, bot user) too."""
    token = client.token or ""
    if not token.startswith("xoxb-"):
        return failed(
            AUTH_CHECK, "the token is not a bot token (it does not start with xoxb-)", AUTH_FIX
        ), None
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        code, _ = _api_error(exc)
        fix = AUTH_FIX if code in _AUTH_ERRORS else "check the app's installation in the workspace"
        return failed(AUTH_CHECK, f"auth.test refused the token: {code}", fix), None
    except (SlackClientError, URLError, OSError) as exc:
        return failed(
            AUTH_CHECK,
            f"Slack's API at {client.base_url} is unreachable ({type(exc).__name__})",
            "check the network (or --slack-api-url / MLOPS_SLACK_API_URL)",
        ), None
    data = dict(response.data) if isinstance(response.data, dict) else {}
    team = f"{data.get('team', '?')} ({data.get('team_id', '?')})"
    bot = f"{data.get('user', '?')} ({data.get('user_id', '?')})"
    return passed(AUTH_CHECK, f"valid bot token: workspace {team}, bot user {bot}"), data


def check_slack_channel(client: WebClient, channel: str, bot_name: str = "the bot") -> CheckResult:
    """``conversations.info``: the channel exists, is not archived, and the bot is a member."""
    if not channel:
        return failed(
            CHANNEL, "slack_channel is not set", "set slack_channel (a channel id, C...) in terraform.tfvars"
        )
    invite = f"in Slack, open the channel and run /invite @{bot_name}"
    try:
        response = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        code, needed = _api_error(exc)
        if code == "missing_scope":
            return warned(
                CHANNEL,
                f"cannot see whether the bot is in {channel}: the token lacks {needed or 'channels:read'}",
                f"check by hand that the bot is in the channel ({invite}), or add channels:read "
                "(groups:read for a private channel) to the app and reinstall it",
            )
        if code == "channel_not_found":
            return failed(
                CHANNEL,
                f"{channel} not found (a wrong id, or a private channel the bot is not in)",
                f"set slack_channel to the channel id (channel details > bottom); for a private channel {invite}",
            )
        return warned(CHANNEL, f"conversations.info {channel} failed: {code}", f"check by hand: {invite}")
    except (SlackClientError, URLError, OSError) as exc:
        return warned(CHANNEL, f"conversations.info unreachable ({type(exc).__name__})", "check the network")
    info = response.get("channel") or {}
    label = f"#{info.get('name', '?')} ({channel})"
    if info.get("is_archived"):
        return failed(
            CHANNEL, f"{label} is archived", "unarchive it, or set slack_channel to another channel"
        )
    member = info.get("is_member")
    if member is True:
        return passed(CHANNEL, f"the bot is a member of {label}")
    if member is False:
        return failed(CHANNEL, f"the bot is not a member of {label}", invite)
    return warned(CHANNEL, f"Slack did not say whether the bot is in {label}", f"check by hand: {invite}")
