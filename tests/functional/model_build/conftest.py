"""Fixtures of the build tests: a real ``mlflow server``, the emulator's S3 (the artifacts bucket),
a git checkout of seed_code/, one build."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from build_test_helpers import ARTIFACTS_BUCKET, CLI, SEED, Build, build_env, git, git_checkout
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


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
