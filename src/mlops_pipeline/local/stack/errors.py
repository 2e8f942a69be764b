"""The errors of the local stack: what ``local up``/``down``/``status``, the daemon, the client, the
harness, the git remote, the gateway, the MLflow process and the demo raise.

They are :class:`PipelineError` subclasses so the CLI reports them as one clear line.
"""

from __future__ import annotations

from mlops_pipeline.domain.errors import PipelineError


class LocalStackError(PipelineError):
    """The local stack cannot be started, reached or stopped."""


class StackRunningError(LocalStackError):
    """A local stack is already running from this state dir."""


class PortTakenError(LocalStackError):
    """A requested port is already in use."""


class TerraformMissingError(LocalStackError):
    """``--terraform`` was asked for but no terraform binary is available."""


class SlackConfigError(LocalStackError):
    """The real-Slack variables are set only in part, or malformed."""


class GatewayError(PipelineError):
    """The local gateway could not start."""


class MlflowServerError(PipelineError):
    """The MLflow server could not be started, reached or administered."""


class HarnessError(PipelineError):
    """Provisioning or waiting on the emulator failed."""


class GitRemoteError(PipelineError):
    """The local remote cannot be created or is not configured."""


class DemoError(LocalStackError):
    """The demo could not push, find or follow its run."""
