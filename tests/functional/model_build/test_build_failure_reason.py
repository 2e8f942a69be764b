"""A trusted step that fails once its MLflow run exists tags that run with the build's own error.

Each test registers its own copy of the session's seed_code/ training output (``seed_training``):
the failure is in the trusted step, so the model need not be trained again per module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from build_test_helpers import SeedTraining, build_env
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build import artifact as artifact_mod
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.runner import BuildSettings, Registrar
from mlops_pipeline.model_build.train_output import MAX_TAG_VALUE

pytestmark = pytest.mark.functional

MODEL = "delivery-time"  # seed_code/'s model: other modules register it too, hence the run diffs
UNVERSIONED = "mlops-artifacts-unversioned"


def failed_runs(client: MlflowClient) -> dict[str, dict[str, str]]:
    """run id -> tags of every FAILED run of the model's experiment."""
    experiment = client.get_experiment_by_name(MODEL)
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'FAILED'")
    return {r.info.run_id: r.data.tags for r in runs}


def new_failed_run(client: MlflowClient, before: dict[str, dict[str, str]]) -> dict[str, str]:
    """The tags of the one FAILED run that was not there ``before``."""
    new = {k: v for k, v in failed_runs(client).items() if k not in before}
    assert len(new) == 1, new
    return next(iter(new.values()))


def test_an_unversioned_bucket_fails_the_run_with_the_builds_error_as_a_tag(
    seed_training: SeedTraining,
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    out = seed_training.copy(tmp_path / "train-output")
    emulator.client("s3").create_bucket(Bucket=UNVERSIONED)  # not versioned: publishing must fail
    env = build_env(mlflow_server, emulator, ARTIFACTS_BUCKET=UNVERSIONED)
    for key, value in emulator.env("tooling").items():  # boto3 in this process: the emulator's S3
        monkeypatch.setenv(key, value)
    before = failed_runs(mlflow_client)
    with pytest.raises(BuildError, match="is not versioned") as raised:
        Registrar(BuildSettings.from_env(seed_training.project, env=env)).run(out)
    tags = new_failed_run(mlflow_client, before)
    assert tags["build_failure_reason"] == f"BuildError: {raised.value}"
    assert f"s3://{UNVERSIONED} is not versioned" in tags["build_failure_reason"]


def test_a_long_error_is_cut_to_mlflows_tag_limit(
    seed_training: SeedTraining,
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    out = seed_training.copy(tmp_path / "train-output")
    long = "x" * (MAX_TAG_VALUE * 2)

    def publish(*args: object, **kwargs: object) -> None:
        raise BuildError(long)

    monkeypatch.setattr(artifact_mod, "publish", publish)
    before = failed_runs(mlflow_client)
    with pytest.raises(BuildError):
        Registrar(BuildSettings.from_env(seed_training.project, env=build_env(mlflow_server, emulator))).run(
            out
        )
    reason = new_failed_run(mlflow_client, before)["build_failure_reason"]
    assert reason == f"BuildError: {long}"[:MAX_TAG_VALUE]
