"""Errors of the build step (each ends the build with a clear message and exit code 1)."""

from __future__ import annotations

from mlops_pipeline.domain.errors import ConfigError, MissingMetricError, PipelineError

__all__ = [
    "BuildError",
    "ConfigError",
    "ExportError",
    "ImageBuildError",
    "MissingMetricError",
    "NoModelLoggedError",
    "TrainingFailedError",
]


class BuildError(PipelineError):
    """The build cannot produce a model version."""


class TrainingFailedError(BuildError):
    """``train.py`` exited with an error."""


class NoModelLoggedError(BuildError):
    """``train.py`` finished but logged no model to its run."""


class ExportError(BuildError):
    """No serving export reproduces the trained model."""


class ImageBuildError(BuildError):
    """The serving image could not be built or pushed."""
