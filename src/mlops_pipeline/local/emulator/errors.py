"""The emulator's own errors (the CodeBuild runtime keeps its own in ``codebuild/errors.py``)."""

from __future__ import annotations

from mlops_pipeline.domain.errors import PipelineError


class EmulatorError(PipelineError):
    """The emulator cannot start or was used in a wrong state."""


class ImageNotFoundError(PipelineError):
    """No image with that URI was pushed to the local store."""


class EventInputError(ValueError):
    """The target's input settings cannot be applied to the event."""
