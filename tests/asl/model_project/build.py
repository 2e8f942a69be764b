"""A tiny model project's build for the state-machine tests.

It does what `mlops-pipeline build` does, minus training: registers a model version in
MLflow with the lineage tags, pushes a serving image into the local image store and
prints the exported variables. `model.json` in the commit decides the metrics and how
the served model behaves, so each test commit drives one path of the state machine.
"""

import contextlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from mlflow import MlflowClient

from mlops_pipeline.local.emulator.image_store import ImageStore

spec = json.loads(Path("model.json").read_text())
name = spec.get("name", "ships")
commit = os.environ["GIT_COMMIT"]
client = MlflowClient()
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
run = client.create_run(
    experiment_id, tags={"git_commit": commit, "pipeline_execution": os.environ["PIPELINE_EXECUTION"]}
)
run_id = run.info.run_id
for key, value in spec["metrics"].items():
    client.log_metric(run_id, key, value)
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run_id, tmp, "model")
client.set_terminated(run_id)
with contextlib.suppress(Exception):  # already registered by an earlier build
    client.create_registered_model(name)
commit_time = subprocess.check_output(["git", "log", "-1", "--format=%ct"], text=True).strip()
example = {"inputs": [{"x": 1.0}, {"x": 2.0}]}
version = client.create_model_version(
    name,
    source=f"runs:/{run_id}/model",
    run_id=run_id,
    tags={
        "git_commit": commit,
        "git_branch": os.environ.get("GIT_BRANCH", ""),
        "git_author": "author@example.com",
        "git_commit_time": commit_time,
        "pipeline_execution": os.environ["PIPELINE_EXECUTION"],
        "smoke_input": json.dumps(example),
    },
).version
image_uri = f"{os.environ['ECR_REPOSITORY_URI']}:{version}"
with tempfile.TemporaryDirectory() as tmp:
    task = Path(tmp) / "var" / "task"
    task.mkdir(parents=True)
    (task / "serve.py").write_text(Path("serve.py").read_text())
    image = ImageStore(Path(os.environ["MLOPS_LOCAL_STATE"]) / "images").push(
        image_uri,
        Path(tmp),
        cmd=["serve.handler"],
        env={"MODEL_NAME": name, "MODEL_VERSION": version, "BEHAVIOUR": spec.get("behaviour", "ok")},
    )
client.set_model_version_tag(name, version, "image_uri", image_uri)
client.set_model_version_tag(name, version, "image_digest", image.digest)
print(f"MODEL_NAME={name}")
print(f"MODEL_VERSION={version}")
print(f"IMAGE_URI={image_uri}")
print(f"RUN_ID={run_id}")
