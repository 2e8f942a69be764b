"""The project files the stack provisions from: this package's source checkout and its buildspec."""

from __future__ import annotations

from pathlib import Path

import mlops_pipeline

# Used when the repository's buildspec.yml is not next to the package (non-editable install).
LOCAL_BUILDSPEC = """version: 0.2
env:
  shell: bash
  exported-variables: [MODEL_NAME, MODEL_VERSION, ARTIFACT_URI, ARTIFACT_KIND, ARTIFACT_SHA256, RUN_ID]
phases:
  build:
    commands:
      - mlops-pipeline build --source "$CODEBUILD_SRC_DIR" --exports-file "$CODEBUILD_SRC_DIR/.mlops-build.env"
      - set -a && . "$CODEBUILD_SRC_DIR/.mlops-build.env" && set +a
"""


def repository_root() -> Path | None:
    """The source checkout this package runs from (None for a non-editable install)."""
    root = Path(mlops_pipeline.__file__).resolve().parents[2]
    return root if (root / "statemachine").is_dir() and (root / "pyproject.toml").is_file() else None


def buildspec_text() -> str:
    """The pipeline's own buildspec.yml (the one AWS uses), else the local-only fallback."""
    root = repository_root()
    if root is not None and (root / "buildspec.yml").is_file():
        return (root / "buildspec.yml").read_text(encoding="utf-8")
    return LOCAL_BUILDSPEC
