"""A tiny model project's build for the state-machine tests.

It does what `mlops-pipeline build` does, minus training: registers a model version in
MLflow with the lineage tags, uploads a serving zip to the artifacts bucket (one object
version) and prints the exported variables. `model.json` in the commit decides the metrics
and how the served model behaves (``"fail": "ModuleNotFoundError"``: the build fails importing a
missing module), so each test commit drives one path of the state machine.
"""

import contextlib
import hashlib
import importlib
import io
import json
import os
import shlex
import subprocess
import tempfile
import zipfile
from pathlib import Path

import boto3
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

spec = json.loads(Path("model.json").read_text())
if spec.get("fail") == "ModuleNotFoundError":  # a project whose dependency is missing: the build fails
    importlib.import_module("sklearn_but_misspelt")
name = spec.get("name", "ships")
commit = os.environ["GIT_COMMIT"]
client = MlflowClient()
experiment = client.get_experiment_by_name(name)
if experiment is None:
    try:
        experiment_id = client.create_experiment(name)
    except MlflowException:  # a concurrent build of the same new model created it first
        experiment_id = client.get_experiment_by_name(name).experiment_id
else:
    experiment_id = experiment.experiment_id
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
settings = {"model_name": name, "model_version": version, "behaviour": spec.get("behaviour", "ok")}
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("serving/__init__.py", "")
    archive.writestr("serving/handler.py", Path("serve.py").read_text())
    archive.writestr("serving/settings.json", json.dumps(settings))
body = buffer.getvalue()
bucket, key = os.environ["ARTIFACTS_BUCKET"], f"serving/{name}/{name}-{version}.zip"
object_version = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
artifact = {
    "artifact_kind": "zip",
    "artifact_uri": f"s3://{bucket}/{key}?versionId={object_version}",
    "artifact_sha256": hashlib.sha256(body).hexdigest(),
    "artifact_s3_version": object_version,
}
for tag, value in artifact.items():
    client.set_model_version_tag(name, version, tag, value)
exports = {
    "MODEL_NAME": name,
    "MODEL_VERSION": version,
    "ARTIFACT_URI": artifact["artifact_uri"],
    "ARTIFACT_KIND": "zip",
    "ARTIFACT_SHA256": artifact["artifact_sha256"],
    "RUN_ID": run_id,
}
for key_, value in exports.items():
    print(f"{key_}={shlex.quote(value)}")
