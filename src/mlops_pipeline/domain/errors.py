"""Errors of the pipeline.

Errors that Step Functions branches on keep their class name stable: the Lambda
runtime reports the class name as ``errorType`` and the ASL ``Catch`` matches it.
Renaming one of the classes in ``STABLE_ERROR_NAMES`` breaks the state machine.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or malformed."""


class MissingMetricError(PipelineError):
    """The gate metric is absent from the candidate's run."""


class ModelNotFoundError(PipelineError):
    """No registered model version matches."""


class DeploymentError(PipelineError):
    """Publishing the image to the target function failed; ``live`` was left untouched."""


class SmokeTestFailedError(PipelineError):
    """The function behind ``live`` failed the smoke test."""


class DeploymentLockedError(PipelineError):
    """Another execution holds the environment's deployment lock."""


class StaleCommitError(PipelineError):
    """The commit is older than what the environment already runs."""


class ApprovalNotFoundError(PipelineError):
    """No approval record has that id."""


class AlreadyDecidedError(PipelineError):
    """The approval is no longer pending (decided, expired or superseded)."""

    def __init__(self, message: str, current: object | None = None) -> None:
        super().__init__(message)
        self.current = current


class ApproverNotAllowedError(PipelineError):
    """The Slack user may not decide this approval."""


class SignatureError(PipelineError):
    """A Slack request failed verification (bad, stale or missing signature)."""


class BadRequestError(PipelineError):
    """A request body or event could not be understood."""


class InvalidInputError(PipelineError):
    """Inference input failed validation (serving runtime)."""


# Error names passed to SendTaskFailure; the ASL catches them by these strings.
MODEL_REJECTED = "ModelRejected"
APPROVAL_SUPERSEDED = "ApprovalSuperseded"
APPROVAL_EXPIRED = "ApprovalExpired"

STABLE_ERROR_NAMES = (
    "MissingMetricError",
    "ModelNotFoundError",
    "DeploymentError",
    "SmokeTestFailedError",
    "DeploymentLockedError",
    "StaleCommitError",
    MODEL_REJECTED,
    APPROVAL_SUPERSEDED,
    APPROVAL_EXPIRED,
)
