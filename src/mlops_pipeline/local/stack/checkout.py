"""The project files the stack provisions from: this package's source checkout and its buildspec."""

from __future__ import annotations

from pathlib import Path

import mlops_pipeline
from mlops_pipeline.local.stack.errors import LocalStackError

#: The pipeline's one buildspec (relative to the checkout): the CodeBuild project on AWS runs it
#: (terraform/modules/pipeline's default) and so does local mode; only its install phase
#: differs there (MLOPS_LOCAL_STATE: nothing to install), the build command is the same.
BUILDSPEC_PATH = Path("terraform/modules/pipeline/buildspec.yml")


def repository_root() -> Path | None:
    """The source checkout this package runs from (None for a non-editable install)."""
    root = Path(mlops_pipeline.__file__).resolve().parents[2]
    return root if (root / "statemachine").is_dir() and (root / "pyproject.toml").is_file() else None


def buildspec_text() -> str:
    """The pipeline's buildspec.yml, the one AWS uses (LocalStackError without a source checkout)."""
    root = repository_root()
    if root is None or not (root / BUILDSPEC_PATH).is_file():
        raise LocalStackError(
            f"local mode needs the project's source checkout: the pipeline's buildspec is {BUILDSPEC_PATH}"
        )
    return (root / BUILDSPEC_PATH).read_text(encoding="utf-8")
