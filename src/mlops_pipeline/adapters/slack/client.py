"""The ChatNotifier port on the real Slack Web API (``slack_sdk.WebClient``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from mlops_pipeline.adapters.slack.errors import SlackError
from mlops_pipeline.domain.models import MessageRef

__all__ = ["DEFAULT_BASE_URL", "SlackError", "SlackNotifier"]

DEFAULT_BASE_URL = "https://slack.com/api/"

T = TypeVar("T")


def _error_code(exc: SlackApiError) -> str:
    response = exc.response
    try:
        code = response.get("error") if response is not None else None
    except (AttributeError, TypeError):
        code = None
    if not code:
        status = getattr(response, "status_code", None)
        code = f"http_{status}" if status else "unknown_error"
    return str(code)


class SlackNotifier:
    """Posts and updates pipeline messages in Slack.

    ``base_url`` points the client at another Slack-compatible API (the local stand-in
    in local mode). Rate limits (HTTP 429, honouring ``Retry-After``) and dropped
    connections are retried by slack_sdk's own retry handlers.
    """

    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        client: WebClient | None = None,
        timeout_seconds: int = 15,
        max_retries: int = 2,
    ) -> None:
        if client is None:
            url = base_url or DEFAULT_BASE_URL
            if not url.endswith("/"):
                url += "/"  # WebClient joins base_url and the method name without a separator
            client = WebClient(
                token=token,
                base_url=url,
                timeout=timeout_seconds,
                retry_handlers=[
                    ConnectionErrorRetryHandler(max_retry_count=max_retries),
                    RateLimitErrorRetryHandler(max_retry_count=max_retries),
                ],
            )
        self._client = client

    @property
    def client(self) -> WebClient:
        return self._client

    def _call(self, method: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except SlackApiError as exc:
            raise SlackError(method, _error_code(exc)) from exc
        except (SlackClientError, URLError, OSError) as exc:
            # Connection problems: name the exception type only; its text may carry the URL.
            raise SlackError(method, "connection_error", type(exc).__name__) from exc

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        """Post a message (a thread reply when ``thread_ts`` is set); returns where it lives."""
        response = self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=[dict(b) for b in blocks] if blocks is not None else None,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def update(self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Replace a message's text (and blocks when given; Slack keeps the old blocks otherwise)."""
        self._call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=ref.channel,
                ts=ref.ts,
                text=text,
                blocks=[dict(b) for b in blocks] if blocks is not None else None,
            ),
        )

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees (e.g. "you may not approve this")."""
        self._call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
        )

    def lookup_user_by_email(self, email: str) -> str | None:
        """The Slack user id for an email address, or None when no user has it."""
        try:
            response = self._client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if _error_code(exc) == "users_not_found":
                return None
            raise SlackError("users.lookupByEmail", _error_code(exc)) from exc
        except (SlackClientError, URLError, OSError) as exc:
            raise SlackError("users.lookupByEmail", "connection_error", type(exc).__name__) from exc
        user = response.get("user") or {}
        user_id = user.get("id") if isinstance(user, dict) else None
        return str(user_id) if user_id else None

    def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        """The user ids in a Slack user group (``usergroups.users.list``)."""
        response = self._call(
            "usergroups.users.list",
            lambda: self._client.usergroups_users_list(usergroup=usergroup_id),
        )
        users = response.get("users") or []
        return frozenset(str(u) for u in users)
