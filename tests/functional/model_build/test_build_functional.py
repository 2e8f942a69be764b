"""``mlops-pipeline build`` on seed_code/ against a real mlflow server, and the zip it publishes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from build_test_helpers import (
    ARTIFACTS_BUCKET,
    AUTHOR_EMAIL,
    ECR_REPOSITORY_URI,
    SEED,
    Build,
    SeedTraining,
    build_env,
    git,
    git_checkout,
)
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build.errors import (
    BuildError,
    MissingMetricError,
    NoModelLoggedError,
    TrainingFailedError,
)
from mlops_pipeline.model_build.runner import Builder, BuildSettings, Registrar
from mlops_pipeline.model_build.wheels import allowed_top_level

pytestmark = pytest.mark.functional

CONTRACT_TAGS = {
    "git_commit",
    "git_branch",
    "git_author",
    "git_commit_time",
    "git_repository",
    "pipeline_execution",
    "artifact_kind",
    "artifact_uri",
    "artifact_sha256",
    "artifact_s3_version",
    "serving_flavor",
    "smoke_input",
    "gate_metric",
    "gate_direction",
    "gate_tolerance",
}


def exported(build: Build) -> dict[str, str]:
    """The exports file as the buildspec's shell reads it (values are shell-quoted)."""
    pairs = (line.split("=", 1) for line in build.exports_file.read_text().splitlines())
    return {key: shlex.split(value)[0] for key, value in pairs}


def fetch_zip(emulator: Emulator, uri: str) -> bytes:
    match = re.fullmatch(r"s3://([^/]+)/(.+)\?versionId=(.+)", uri)
    assert match, uri
    bucket, key, version = match.groups()
    return bytes(emulator.client("s3").get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())


def test_build_succeeds_and_exports_the_variables(seed_build: Build) -> None:
    assert seed_build.result.returncode == 0, seed_build.result.stderr[-3000:]
    values = exported(seed_build)
    assert list(values) == [
        "MODEL_NAME",
        "MODEL_VERSION",
        "ARTIFACT_URI",
        "ARTIFACT_KIND",
        "ARTIFACT_SHA256",
        "RUN_ID",
    ]
    assert values["MODEL_NAME"] == "delivery-time"
    assert values["ARTIFACT_KIND"] == "zip"
    version = values["MODEL_VERSION"]
    assert re.fullmatch(
        rf"s3://{ARTIFACTS_BUCKET}/serving/delivery-time/delivery-time-{version}\.zip\?versionId=[^&]+",
        values["ARTIFACT_URI"],
    )
    assert re.fullmatch(r"[0-9a-f]{64}", values["ARTIFACT_SHA256"])
    # The same lines on stdout, for a human or a shell.
    assert [f"{k}={v}" for k, v in values.items()] == seed_build.result.stdout.split()
    assert "registered delivery-time version" in seed_build.result.stderr  # progress for humans
    print(f"build took {seed_build.seconds:.1f} s")


def test_registered_version_carries_the_lineage_tags(seed_build: Build, mlflow_client: MlflowClient) -> None:
    values = exported(seed_build)
    version = mlflow_client.get_model_version(values["MODEL_NAME"], values["MODEL_VERSION"])
    tags = version.tags
    assert set(tags) >= CONTRACT_TAGS, CONTRACT_TAGS - set(tags)
    assert version.run_id == values["RUN_ID"]
    assert tags["git_commit"] == git(seed_build.project, "rev-parse", "HEAD")
    assert tags["git_author"] == AUTHOR_EMAIL
    assert tags["git_commit_time"] == git(seed_build.project, "log", "-1", "--format=%ct")
    assert tags["git_branch"] == "main"
    assert tags["git_repository"] == "delivery-model"
    assert tags["pipeline_execution"].endswith(":execution:mlops-pipeline:run-1")
    assert (tags["artifact_kind"], tags["artifact_uri"], tags["artifact_sha256"]) == (
        "zip",
        values["ARTIFACT_URI"],
        values["ARTIFACT_SHA256"],
    )
    assert values["ARTIFACT_URI"].endswith(f"?versionId={tags['artifact_s3_version']}")
    assert "image_uri" not in tags  # only the image path has an image
    assert tags["serving_flavor"] == "onnx"
    assert "serving_fallback_reason" not in tags
    assert (tags["gate_metric"], tags["gate_direction"], float(tags["gate_tolerance"])) == (
        "rmse",
        "lower",
        0.0,
    )
    assert json.loads(tags["smoke_input"])["columns"] == [
        "PORT_LOAD_LAT",
        "PORT_LOAD_LONG",
        "PORT_DEL_LAT",
        "PORT_DEL_LONG",
    ]
    run = mlflow_client.get_run(values["RUN_ID"])
    assert run.info.status == "FINISHED"
    assert {"mae", "rmse", "r2"} <= set(run.data.metrics)
    assert run.data.tags["git_commit"] == tags["git_commit"]
    assert run.data.tags["pipeline_execution"] == tags["pipeline_execution"]


def test_zip_holds_runtime_model_and_only_the_serving_set(seed_build: Build, emulator: Emulator) -> None:
    values = exported(seed_build)
    data = fetch_zip(emulator, values["ARTIFACT_URI"])
    assert hashlib.sha256(data).hexdigest() == values["ARTIFACT_SHA256"]
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == allowed_top_level("onnx")
    assert {t.split("-")[0] for t in top if t.endswith(".dist-info")} == {"numpy", "onnxruntime"}
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("model/serving.json"))
    assert (manifest["model_name"], manifest["model_version"]) == ("delivery-time", values["MODEL_VERSION"])
    assert sorted(n for n in names if n.startswith("model/")) == ["model/model.onnx", "model/serving.json"]
    # Bytecode ships compiled for the Python that runs it (here the emulator's, the host's).
    tag = sys.implementation.cache_tag
    assert f"serving/__pycache__/handler.{tag}.pyc" in names
    assert any(n.startswith("numpy/__pycache__/") and n.endswith(f".{tag}.pyc") for n in names)


SERVE = textwrap.dedent(
    """
    import importlib, json, os, sys
    sys.path.insert(0, sys.argv[1])  # the task root, as Lambda puts it first; no site-packages (-S)
    handler = importlib.import_module("serving.handler").handler
    answers = [handler(json.loads(line)) for line in sys.stdin]
    leaked = sorted({m.split(".")[0] for m in sys.modules} & {"mlflow", "pandas", "sklearn", "mlops_pipeline"})
    outside = sorted({
        m.split(".")[0] for m, mod in list(sys.modules.items())
        if getattr(mod, "__file__", None) and "site-packages" in mod.__file__
    })
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    print(json.dumps({"answers": answers, "leaked": leaked, "outside": outside, "threads": threads}))
    """
)


def test_zip_handler_in_a_fresh_process_matches_the_training_framework(
    seed_build: Build, mlflow_server: MlflowServer, emulator: Emulator, tmp_path: Path
) -> None:
    values = exported(seed_build)
    task_root = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(fetch_zip(emulator, values["ARTIFACT_URI"]))).extractall(task_root)
    tags = (
        MlflowClient(mlflow_server.url).get_model_version(values["MODEL_NAME"], values["MODEL_VERSION"]).tags
    )
    columns = ["PORT_LOAD_LAT", "PORT_LOAD_LONG", "PORT_DEL_LAT", "PORT_DEL_LONG"]
    rows = pd.read_csv(SEED / "data/data.csv")[columns].sample(n=300, random_state=1)
    smoke = json.loads(tags["smoke_input"])
    requests = [smoke, {"columns": columns, "data": rows.to_numpy().tolist()}]
    requests += [
        {"inputs": dict(zip(columns, row, strict=True))} for row in rows.head(20).to_numpy().tolist()
    ]
    # -S: no site-packages at all, so every import must come from the zip itself.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SERVE, str(task_root)],
        input="\n".join(json.dumps(r) for r in requests),
        env={"PATH": os.environ["PATH"]},
        cwd=task_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["leaked"] == [] and out["outside"] == []
    assert out["threads"] == "1"  # the runtime's default: one request at a time per environment
    answers = out["answers"]
    assert all(a["statusCode"] == 200 for a in answers), answers[:1]
    assert {(a["model_name"], a["model_version"]) for a in answers} == {
        (values["MODEL_NAME"], values["MODEL_VERSION"])
    }
    assert len(answers[0]["predictions"]) == len(smoke["data"])

    mlflow.set_tracking_uri(mlflow_server.url)
    model = mlflow.sklearn.load_model(f"models:/{values['MODEL_NAME']}/{values['MODEL_VERSION']}")
    expected = model.predict(rows)
    # The stated tolerance (mlops_pipeline.model_build.parity): rtol 1e-5, atol 1e-6.
    np.testing.assert_allclose(answers[1]["predictions"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        [a["predictions"][0] for a in answers[2:]], expected[:20], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        answers[0]["predictions"],
        model.predict(pd.DataFrame(smoke["data"], columns=columns)),
        rtol=1e-5,
        atol=1e-6,
    )


def image_project(tmp_path: Path) -> Path:
    """seed_code/ at a commit whose mlops.toml asks for the image path (the training is the same)."""
    source = tmp_path / "src"
    source.mkdir()
    for item in SEED.iterdir():
        if item.name in ("mlops.toml", "__pycache__", "mlruns"):
            continue
        target = source / item.name
        target.symlink_to(item, target_is_directory=item.is_dir())
    text = (SEED / "mlops.toml").read_text()
    (source / "mlops.toml").write_text(text + '\n[serving]\nartifact = "image"\n')
    return git_checkout(source, tmp_path / "checkout")


def version_numbers(client: MlflowClient, name: str) -> list[str]:
    return sorted(v.version for v in client.search_model_versions(f"name = '{name}'"))


# The image path is the trusted step's (the training step never reads [serving] artifact): these
# tests register a copy of the session's seed_code/ training output instead of training again.
def test_image_path_tags_the_image_with_model_and_version(
    tmp_path: Path,
    seed_training: SeedTraining,
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
) -> None:
    project = image_project(tmp_path)
    settings = BuildSettings.from_env(project, env=build_env(mlflow_server, emulator))
    result = Registrar(settings).run(seed_training.copy(tmp_path / "train-output"))
    uri = f"{ECR_REPOSITORY_URI}:delivery-time-{result.model_version}"
    assert (result.artifact.kind, result.artifact.uri) == ("image", uri)
    image = ImageStore(emulator.state_dir / "images").get(uri)
    assert image.digest == f"sha256:{result.artifact.sha256}"
    assert image.cmd == ["serving.handler.handler"]
    top = {p.name for p in image.task_root.iterdir()}
    assert {t for t in top if not t.endswith(".dist-info")} == allowed_top_level("onnx")
    tags = mlflow_client.get_model_version("delivery-time", result.model_version).tags
    assert (tags["image_uri"], tags["image_digest"]) == (uri, image.digest)
    assert (tags["artifact_kind"], tags["artifact_uri"], tags["artifact_sha256"]) == (
        "image",
        uri,
        result.artifact.sha256,
    )


def test_a_model_that_needs_an_image_is_refused_for_zip_functions_before_registering(
    tmp_path: Path,
    seed_training: SeedTraining,
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
) -> None:
    project = image_project(tmp_path)
    env = build_env(mlflow_server, emulator, SERVING_PACKAGE_TYPE="Zip")
    before = version_numbers(mlflow_client, "delivery-time")
    with pytest.raises(BuildError, match=r'needs a container image.*serving_package_type = "Image"'):
        Registrar(BuildSettings.from_env(project, env=env)).run(seed_training.copy(tmp_path / "train-output"))
    assert version_numbers(mlflow_client, "delivery-time") == before


BROKEN_PROJECTS = {
    "train-fails": ("import sys\nsys.exit('boom: bad data')\n", TrainingFailedError, "exit code 1"),
    "no-model": (
        "import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('rmse', 1.0)\n",
        NoModelLoggedError,
        "logged no model",
    ),
    "no-gate-metric": (
        "import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('mae', 1.0)\n",
        MissingMetricError,
        "no metric 'rmse'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PROJECTS))
def test_build_refuses_clearly_and_registers_nothing(
    case: str, tmp_path: Path, mlflow_server: MlflowServer, mlflow_client: MlflowClient, emulator: Emulator
) -> None:
    source, error, words = BROKEN_PROJECTS[case]
    (tmp_path / "src").mkdir()
    (tmp_path / "src/train.py").write_text(source)
    (tmp_path / "src/mlops.toml").write_text(f'[model]\nname = "broken-{case}"\n')
    project = git_checkout(tmp_path / "src", tmp_path / "checkout")
    settings = BuildSettings.from_env(project, env=build_env(mlflow_server, emulator))
    with pytest.raises(error, match=words):
        Builder(settings).run()
    assert mlflow_client.search_model_versions(f"name = 'broken-{case}'") == []
    # The training step fails before the trusted step starts: the server never hears of it.
    assert mlflow_client.get_experiment_by_name(f"broken-{case}") is None
    listed = emulator.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=f"serving/broken-{case}/")
    assert listed.get("KeyCount", 0) == 0
