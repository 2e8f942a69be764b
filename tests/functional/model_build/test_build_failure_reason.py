"""A trusted step that fails once its MLflow run exists tags that run with the build's own error."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_test_helpers import SEED, build_env, git_checkout
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build import artifact as artifact_mod
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.runner import BuildSettings, Registrar
from mlops_pipeline.model_build.train_output import MAX_TAG_VALUE
from mlops_pipeline.model_build.train_step import Trainer, TrainSettings

pytestmark = pytest.mark.functional

MODEL = "delivery-failing"
UNVERSIONED = "mlops-artifacts-unversioned"


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer, emulator: Emulator
) -> tuple[Path, Path]:
    """A checkout of seed_code/ under its own model name, and its training output (trained once)."""
    root = tmp_path_factory.mktemp("failing")
    (root / "src").mkdir()
    for item in SEED.iterdir():
        if item.name not in ("__pycache__", "mlruns", ".venv", "mlops.toml"):
            (root / "src" / item.name).symlink_to(item, target_is_directory=item.is_dir())
    text = (SEED / "mlops.toml").read_text().replace('name = "delivery-time"', f'name = "{MODEL}"')
    (root / "src" / "mlops.toml").write_text(text)
    project = git_checkout(root / "src", root / "checkout")
    out = root / "train-output"
    Trainer(TrainSettings(project, env=build_env(mlflow_server, emulator))).run(out)
    return project, out


def failed_runs(client: MlflowClient) -> list[dict[str, str]]:
    experiment = client.get_experiment_by_name(MODEL)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    return [r.data.tags for r in runs if r.info.status == "FAILED"]


def test_an_unversioned_bucket_fails_the_run_with_the_builds_error_as_a_tag(
    trained: tuple[Path, Path],
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, out = trained
    emulator.client("s3").create_bucket(Bucket=UNVERSIONED)  # not versioned: publishing must fail
    env = build_env(mlflow_server, emulator, ARTIFACTS_BUCKET=UNVERSIONED)
    for key, value in emulator.env("tooling").items():  # boto3 in this process: the emulator's S3
        monkeypatch.setenv(key, value)
    with pytest.raises(BuildError, match="is not versioned") as raised:
        Registrar(BuildSettings.from_env(project, env=env)).run(out)
    newest = failed_runs(mlflow_client)[0]
    assert newest["build_failure_reason"] == f"BuildError: {raised.value}"
    assert f"s3://{UNVERSIONED} is not versioned" in newest["build_failure_reason"]


def test_a_long_error_is_cut_to_mlflows_tag_limit(
    trained: tuple[Path, Path],
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, out = trained
    long = "x" * (MAX_TAG_VALUE * 2)

    def publish(*args: object, **kwargs: object) -> None:
        raise BuildError(long)

    monkeypatch.setattr(artifact_mod, "publish", publish)
    with pytest.raises(BuildError):
        Registrar(BuildSettings.from_env(project, env=build_env(mlflow_server, emulator))).run(out)
    reason = failed_runs(mlflow_client)[0]["build_failure_reason"]
    assert reason == f"BuildError: {long}"[:MAX_TAG_VALUE]
