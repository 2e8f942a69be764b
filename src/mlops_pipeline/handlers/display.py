"""How the handlers word a step for the run's thread: step names and error summaries.

Both turn Step Functions vocabulary (an environment name, a Catch's ``{"Error", "Cause"}``
object) into the plain text the Reporter records; Block Kit rendering of that text is
the Slack adapter's (``adapters/slack/views.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops_pipeline.domain.build_logs import build_summary, failed_build

_ENVIRONMENT_LABELS = {"stage": "Stage", "prod": "Prod"}
_SUMMARY_MAX = 600


def environment_label(environment: str) -> str:
    """The suffix of a per-environment step name: ``Deploy`` + ``Stage`` = the ASL's ``DeployStage``."""
    return _ENVIRONMENT_LABELS.get(environment, environment.title())


def error_summary(error: Mapping[str, Any] | None) -> str:
    """A readable line from a Step Functions error object ``{"Error", "Cause"}``."""
    if not error:
        return ""
    name = str(error.get("Error", "Error"))
    message = error_message(error)
    text = f"{name}: {message}" if message else name
    return text[:_SUMMARY_MAX]


def error_message(error: Mapping[str, Any]) -> str:
    """The readable part of an error object's ``Cause`` (a Lambda's errorMessage, a build's summary)."""
    build = failed_build(error)
    if build is not None:  # a CodeBuild task's Cause is the whole build: say what failed, not the JSON
        return build_summary(build)
    cause = error.get("Cause", "")
    message = cause
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            message = (
                parsed.get("errorMessage") or parsed.get("Message") or parsed.get("BuildStatus") or cause
            )
    return str(message or "")
