"""Errors of the Slack adapter."""

from __future__ import annotations

from mlops_pipeline.domain.errors import ChatError, PipelineError


class SlackError(ChatError):
    """A Slack Web API call failed; the message names the method and Slack's error code.

    The ChatNotifier port's :class:`~mlops_pipeline.domain.errors.ChatError`, with the method.

    The bot token never appears in the message (Slack's own error codes do not carry it).
    """

    def __init__(self, method: str, code: str, detail: str = "") -> None:
        message = f"Slack {method} failed: {code}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message, code)
        self.method = method


class SignatureError(PipelineError):
    """A Slack request failed verification (bad, stale or missing signature)."""


class BadRequestError(PipelineError):
    """A Slack request body could not be understood (after its signature was verified)."""
