"""Helpers of the build tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "seed_code"
AUTHOR_EMAIL = "ada@example.com"
CLI = str(Path(sys.executable).with_name("mlops-pipeline"))
ARTIFACTS_BUCKET = "mlops-artifacts-build-tests"
ECR_REPOSITORY_URI = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving"


def git_checkout(source: Path, target: Path, author_email: str = AUTHOR_EMAIL) -> Path:
    """Copy a project into ``target`` and commit it, as the CodeBuild checkout would have it."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "mlruns", ".venv"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": author_email,
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": author_email,
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "model"]):
        subprocess.run(["git", "-C", str(target), *args], check=True, env=env)
    return target


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass(frozen=True)
class Build:
    project: Path
    state: Path
    exports_file: Path
    result: subprocess.CompletedProcess[str]
    seconds: float


@dataclass(frozen=True)
class SeedTraining:
    """seed_code/ trained once by the training step, shared read-only by the tests that register it."""

    project: Path  # the checkout it was trained from (model "delivery-time")
    output: Path  # the training output: never registered in place (the trusted step rewrites it)

    def copy(self, target: Path) -> Path:
        """A private copy of the training output for one test to register or change."""
        shutil.copytree(self.output, target, symlinks=True)
        return target


def build_env(mlflow_server: MlflowServer, emulator: Emulator, **extra: str) -> dict[str, str]:
    """What the emulator's CodeBuild runtime gives the build: the local state, the tooling account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MLFLOW_", "MLOPS_", "AWS_"))}
    env.update(emulator.env("tooling"))  # MLOPS_LOCAL_STATE: local mode, host-platform packages
    env.update(
        {
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "ECR_REPOSITORY_URI": ECR_REPOSITORY_URI,
            "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
            "ARCHITECTURE": "arm64",  # ignored locally: the emulator runs the host's Python
        }
    )
    env.update(extra)
    return env
