"""The errors of the local CodeBuild runtime (all are pipeline errors)."""

from __future__ import annotations

from mlops_pipeline.domain.errors import PipelineError


class BuildspecError(PipelineError):
    """The buildspec is missing or not a valid buildspec document."""


class SourceNotFoundError(PipelineError):
    """The project's source location is not a local repository the runtime can clone."""


class BuildNotFoundError(PipelineError):
    """No local build with that id."""


class InvalidBuildRequestError(PipelineError):
    """StartBuild parameters CodeBuild would reject (nothing is started)."""
