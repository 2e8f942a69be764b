"""``mlops-pipeline build`` on seed_code/ against a real mlflow server, and the image it produces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from build_test_helpers import AUTHOR_EMAIL, SEED, Build, build_env, git, git_checkout
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build.errors import MissingMetricError, NoModelLoggedError, TrainingFailedError
from mlops_pipeline.model_build.runner import Builder, BuildSettings

pytestmark = pytest.mark.functional

CONTRACT_TAGS = {
    "git_commit",
    "git_branch",
    "git_author",
    "git_commit_time",
    "git_repository",
    "pipeline_execution",
    "image_uri",
    "image_digest",
    "serving_flavor",
    "smoke_input",
    "gate_metric",
    "gate_direction",
    "gate_tolerance",
}


def exported(build: Build) -> dict[str, str]:
    return dict(line.split("=", 1) for line in build.exports_file.read_text().splitlines())


def test_build_succeeds_and_exports_the_variables(seed_build: Build) -> None:
    assert seed_build.result.returncode == 0, seed_build.result.stderr[-3000:]
    values = exported(seed_build)
    assert set(values) == {"MODEL_NAME", "MODEL_VERSION", "IMAGE_URI", "RUN_ID"}
    assert values["MODEL_NAME"] == "delivery-time"
    assert (
        values["IMAGE_URI"]
        == f"111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops-models:{values['MODEL_VERSION']}"
    )
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
    assert tags["image_uri"] == values["IMAGE_URI"]
    assert tags["serving_flavor"] == "onnx"
    assert "serving_fallback_reason" not in tags
    assert (tags["gate_metric"], tags["gate_direction"], float(tags["gate_tolerance"])) == (
        "rmse",
        "lower",
        0.02,
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


def test_local_image_holds_runtime_model_and_only_serving_packages(
    seed_build: Build, mlflow_client: MlflowClient
) -> None:
    values = exported(seed_build)
    image = ImageStore(seed_build.state / "images").get(values["IMAGE_URI"])
    tags = mlflow_client.get_model_version(values["MODEL_NAME"], values["MODEL_VERSION"]).tags
    assert image.digest == tags["image_digest"]
    assert image.cmd == ["serving.handler.handler"]
    assert image.env == {
        "MODEL_NAME": "delivery-time",
        "MODEL_VERSION": values["MODEL_VERSION"],
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    assert sorted(p.split("==")[0] for p in image.python_packages) == ["numpy", "onnxruntime"]
    files = sorted(
        p.relative_to(image.task_root).as_posix()
        for p in image.task_root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    # Bytecode ships compiled: /var/task is read-only in Lambda.
    assert len(list((image.task_root / "serving/__pycache__").glob("handler.*.pyc"))) == 1
    assert files == [
        "model/model.onnx",
        "model/serving.json",
        "serving/__init__.py",
        "serving/handler.py",
        "serving/runtime.py",
        "serving/validation.py",
    ]


SERVE = textwrap.dedent(
    """
    import importlib, json, sys
    image = json.load(open(sys.argv[1]))
    sys.path.insert(0, sys.argv[2])
    module, function = image["cmd"][0].rsplit(".", 1)
    handler = getattr(importlib.import_module(module), function)
    answers = [handler(json.loads(line)) for line in sys.stdin]
    leaked = sorted({m.split(".")[0] for m in sys.modules} & {"mlflow", "pandas", "sklearn", "mlops_pipeline"})
    print(json.dumps({"answers": answers, "leaked": leaked}))
    """
)


def test_image_handler_in_a_fresh_process_matches_the_training_framework(
    seed_build: Build, mlflow_server: MlflowServer
) -> None:
    values = exported(seed_build)
    image = ImageStore(seed_build.state / "images").get(values["IMAGE_URI"])
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
    env = {"PATH": os.environ["PATH"], **image.env}
    done = subprocess.run(
        [sys.executable, "-I", "-c", SERVE, str(image.path / "image.json"), str(image.task_root)],
        input="\n".join(json.dumps(r) for r in requests),
        env=env,
        cwd=image.task_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["leaked"] == []
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
    case: str, tmp_path: Path, mlflow_server: MlflowServer, mlflow_client: MlflowClient
) -> None:
    source, error, words = BROKEN_PROJECTS[case]
    (tmp_path / "src").mkdir()
    (tmp_path / "src/train.py").write_text(source)
    (tmp_path / "src/mlops.toml").write_text(f'[model]\nname = "broken-{case}"\n')
    project = git_checkout(tmp_path / "src", tmp_path / "checkout")
    settings = BuildSettings.from_env(project, env=build_env(mlflow_server, tmp_path / "state"))
    with pytest.raises(error, match=words):
        Builder(settings).run()
    assert mlflow_client.search_model_versions(f"name = 'broken-{case}'") == []
    runs = mlflow_client.search_runs([mlflow_client.get_experiment_by_name(f"broken-{case}").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (tmp_path / "state/images").exists()
