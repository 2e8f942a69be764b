"""Fixtures of the build tests: the emulator's S3 (the artifacts bucket), a git checkout of
seed_code/ built once, and seed_code/ trained once.

The mlflow server is the session's (tests/functional/conftest.py): every module registers its own
model names, or compares what it finds before and after, so the modules never meet. Training is
the expensive part (tens of seconds each), so seed_code/ is trained once per session
(``seed_training``) for the tests that only need a training output to register.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from build_test_helpers import (
    ARTIFACTS_BUCKET,
    CLI,
    SEED,
    Build,
    SeedTraining,
    build_env,
    git,
    git_checkout,
)
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build.train_step import Trainer, TrainSettings


@pytest.fixture(scope="module")
def mlflow_client(mlflow_server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The local AWS with the tooling account's versioned artifacts bucket."""
    with Emulator(tmp_path_factory.mktemp("emulator")) as emu:
        s3 = emu.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        s3.put_bucket_versioning(Bucket=ARTIFACTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield emu


@pytest.fixture(scope="session")
def seed_training(tmp_path_factory: pytest.TempPathFactory) -> SeedTraining:
    """seed_code/ trained once by the training step (``Trainer``), as the training project runs it:
    no MLflow server, no pipeline variables. Tests register a copy (``SeedTraining.copy``)."""
    root = tmp_path_factory.mktemp("seed-training")
    project = git_checkout(SEED, root / "checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "MLFLOW_", "MLOPS_", "AWS_"))}
    Trainer(TrainSettings(project, env=env)).run(root / "output")
    return SeedTraining(project, root / "output")


@pytest.fixture(scope="module")
def seed_build(
    mlflow_server: MlflowServer, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Build:
    """``mlops-pipeline build`` on a checkout of seed_code/, the way the buildspec runs it."""
    root = tmp_path_factory.mktemp("seed-build")
    project = git_checkout(SEED, root / "checkout")
    exports_file = root / "exports.env"
    env = build_env(
        mlflow_server,
        emulator,
        GIT_COMMIT=git(project, "rev-parse", "HEAD"),
        GIT_BRANCH="main",
        GIT_AUTHOR="Ada Lovelace",  # a display name: the build must take the email from the commit
        GIT_REPOSITORY="delivery-model",
        PIPELINE_EXECUTION="arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-1",
        MLOPS_EXPORTS_FILE=str(exports_file),
    )
    started = time.monotonic()
    result = subprocess.run(
        [CLI, "build", str(project)], env=env, capture_output=True, text=True, timeout=300
    )
    return Build(project, emulator.state_dir, exports_file, result, time.monotonic() - started)
