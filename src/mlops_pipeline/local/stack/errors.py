"""The errors of the local stack: what ``local up``/``down``/``status``, the daemon and the client raise.

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
