"""The project files the stack provisions from: this package's source checkout and its buildspec."""

from __future__ import annotations

from pathlib import Path

import mlops_pipeline
from mlops_pipeline.local.stack.errors import LocalStackError

#: The pipeline's buildspecs (relative to the checkout): the trusted registration step and the
#: untrusted training step. The CodeBuild projects on AWS run them (terraform/modules/pipeline's
#: defaults) and so does local mode; only their install phase differs there (MLOPS_LOCAL_STATE:
#: nothing to install), the build commands are the same.
BUILDSPEC_PATH = Path("terraform/modules/pipeline/buildspec.yml")
TRAIN_BUILDSPEC_PATH = Path("terraform/modules/pipeline/buildspec_train.yml")


def repository_root() -> Path | None:
    """The source checkout this package runs from (None for a non-editable install)."""
    root = Path(mlops_pipeline.__file__).resolve().parents[2]
    return root if (root / "statemachine").is_dir() and (root / "pyproject.toml").is_file() else None


def buildspec_text(path: Path = BUILDSPEC_PATH) -> str:
    """One of the pipeline's buildspecs, as AWS uses it (LocalStackError without a source checkout)."""
    root = repository_root()
    if root is None or not (root / path).is_file():
        raise LocalStackError(
            f"local mode needs the project's source checkout: the pipeline's buildspec is {path}"
        )
    return (root / path).read_text(encoding="utf-8")
