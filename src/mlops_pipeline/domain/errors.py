"""Errors of the pipeline and of its ports.

Each port in ``mlops_pipeline.ports`` documents which of these its methods raise; adapters
translate their SDK's failures into them (as Powertools' persistence layer does), so the
domain and the handlers never see botocore, MLflow or slack_sdk types. Errors that belong to
one adapter's transport (a bad Slack signature, say) live in that adapter's ``errors`` module.

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


class DecisionConflictError(PipelineError):
    """Another decision was added to the approval since the caller read it (ApprovalStore.add_decision);
    read it again (``current``) and retry."""

    def __init__(self, message: str, current: object | None = None) -> None:
        super().__init__(message)
        self.current = current


class ApprovalRequiredError(PipelineError):
    """Prod was not touched: no APPROVED approval of this execution and model version backs the deploy."""


class RunNotFoundError(PipelineError):
    """No run record exists for that execution (RunStore)."""


class TaskGoneError(PipelineError):
    """The task behind a token is gone (timed out, finished or invalid); nothing waits for the answer.

    Raised by TaskCallbacks adapters; ``code`` is the service's reason (``TaskTimedOut``...).
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InvokeError(PipelineError):
    """The function could not be invoked at all (FunctionDeployer.invoke_alias), as opposed to a
    function that ran and answered with an error."""


class InvalidRegistryInputError(PipelineError, ValueError):
    """A model name, commit, version, alias or tag failed validation; nothing was sent to the registry."""


class RegistryError(PipelineError):
    """The model registry answered with an error the pipeline does not handle itself."""


class RegistryAuthenticationError(RegistryError):
    """The registry rejected the credentials (HTTP 401) or the user lacks a permission (HTTP 403)."""


class ChatError(PipelineError):
    """The chat service refused a call or could not be reached (ChatNotifier).

    ``code`` is the service's reason (Slack's error code such as ``channel_not_found``, or
    ``connection_error``); the message never carries a credential.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class LogUnavailableError(PipelineError):
    """A build's log could not be read (BuildLogReader): no such group or stream, or no access."""


class InvalidEventError(PipelineError):
    """A handler's input event (or a build's exports) is malformed or incomplete."""


class PipelineStartError(PipelineError):
    """The pipeline's execution could not be started (StartExecution failed)."""


class ThreadNotCaughtUpError(PipelineError):
    """A run's chat thread still lacks steps that are recorded (the chat service is down).

    The notify handler raises it after doing everything else, so that Lambda retries the
    asynchronous invocation later and the retry posts what is missing.
    """


class ApprovalRequestFailed(PipelineError):  # noqa: N818 - the ASL catches this very name
    """The approval record could not be stored, so nobody could ever decide: the run ends in
    ApprovalNotRequested, prod untouched. (A card that cannot be posted is not this: the run
    keeps waiting on the stored record.)"""


class RolloutBreachError(PipelineError):
    """A bake of the gradual rollout breached a threshold; the message names the metric."""


class MetricsUnavailableError(PipelineError):
    """CloudWatch could not be read; the bake cannot be judged (the caller decides: retry or roll back)."""


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
    "ApprovalRequiredError",
    "ApprovalRequestFailed",
    "RolloutBreachError",
    "MetricsUnavailableError",
    MODEL_REJECTED,
    APPROVAL_SUPERSEDED,
    APPROVAL_EXPIRED,
)
