"""Fixtures for the emulator extensions: one Emulator (moto server in-process) for the folder.

The Emulator applies every extension's ``install()``; its three accounts are reached with
its admin keys. Builds and hook logs go to a temporary ``MLOPS_LOCAL_STATE``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.emulator import codebuild
from mlops_pipeline.local.emulator.emulator import Emulator

TOOLING = "111111111111"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{TOOLING}:role/codebuild-local"


@pytest.fixture(scope="package")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as env:  # restored when the package's tests are done
        env.setenv("MLOPS_LOCAL_STATE", str(state))
        emu = Emulator(state)
        emu.start()
        try:
            yield emu
        finally:
            emu.stop()


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


@pytest.fixture
def run_git() -> Any:
    """``run_git(cwd, *args) -> stdout``: git with a fixed identity and no user config."""
    return git


@pytest.fixture
def source_repo(tmp_path: Path) -> Any:
    """``make(files) -> (bare repo path, commit)``: a bare repository with one commit of ``files``."""

    def make(files: dict[str, str]) -> tuple[Path, str]:
        work = tmp_path / "work"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        git(work, "add", ".")
        git(work, "commit", "-q", "-m", "first")
        commit = git(work, "rev-parse", "HEAD")
        bare = tmp_path / "origin.git"
        git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
        return bare, commit

    return make


@pytest.fixture
def make_project(emulator: Emulator) -> Any:
    """``make(name, location, buildspec=None, timeout=None, env=None)``: a CodeBuild project."""

    def make(
        name: str,
        location: str,
        buildspec: str | None = None,
        timeout: int | None = None,
        env: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        source: dict[str, Any] = {"type": "CODECOMMIT", "location": location}
        if buildspec is not None:
            source["buildspec"] = buildspec
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeoutInMinutes"] = timeout
        project = emulator.client("codebuild").create_project(
            name=name,
            source=source,
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": env or [],
            },
            serviceRole=ROLE_ARN,
            **kwargs,
        )["project"]
        return dict(project)

    return make


@pytest.fixture
def fast_minutes() -> Iterator[None]:
    """A timeout minute lasts 0.2 s while the test runs."""
    codebuild.configure(minute_seconds=0.2)
    yield
    codebuild.configure(minute_seconds=60.0)
