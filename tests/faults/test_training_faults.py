"""Fault tier, case 7: the model author's training code fails, or tries to read the pipeline's secrets.

The harness's training project runs the commit's ``train.py`` (``$PYTHON train.py``) with the
training role's credentials, as CodeBuild would; the emulator holds that role (tagged
``mlops:untrusted``) to its IAM policy, as AWS does. A failing train.py ends the run in
TrainingFailed with nothing registered, and the thread and the run record say why and where the
whole log is; a train.py that goes looking for secrets finds none, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from mlflow import MlflowClient

from tests.asl.conftest import git
from tests.faults.checks import assert_locks_free, ended_in, last_message, live_versions, registry_alias
from tests.faults.conftest import Pipeline

pytestmark = [pytest.mark.faults, pytest.mark.slow]

FAILING = """\
print("loading the training data from data/train.csv")
print("training failed: data/train.csv has no column 'target'")
raise SystemExit(1)
"""
MISSING_MODULE = """\
import sklearn_but_misspelt_in_train

sklearn_but_misspelt_in_train.fit()
"""
# Looks for the pipeline's settings and secrets with what the build gives it; exits 3 if it got any
# (so the run fails, visibly), 0 when it got nothing (so the run goes on and the test can look).
SECRET_HUNTER = """\
import json
import os
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

spec = json.loads(Path("model.json").read_text())
got = {k: "" for k in os.environ if k.startswith(("MLFLOW_TRACKING_", "SLACK_"))}
print("pipeline settings in the environment:", sorted(got) or "none")
secrets = boto3.client("secretsmanager")
for arn in spec["secrets"]:
    try:
        got[arn] = secrets.get_secret_value(SecretId=arn)["SecretString"]
        print(f"OBTAINED {arn}: {len(got[arn])} characters")
    except ClientError as error:
        print(f"{arn}: {error.response['Error']['Code']}: {error.response['Error']['Message']}")
sys.exit(3 if got else 0)
"""


@pytest.fixture
def train_py(pipeline: Pipeline) -> Iterator[Any]:
    """``commit(spec, source) -> commit``: a commit whose train.py is ``source``.

    A later commit drops train.py again (the execution checks out its own commit), so the
    tier's other tests, which share the repository, train nothing.
    """

    def commit(spec: dict[str, Any], source: str) -> str:
        (pipeline.repo / "train.py").write_text(source)
        git(pipeline.repo, "add", "train.py")
        return pipeline.commit(spec)

    try:
        yield commit
    finally:
        if (pipeline.repo / "train.py").exists():
            git(pipeline.repo, "rm", "-q", "train.py")
            git(pipeline.repo, "commit", "-q", "-m", "no train.py")


def registered_versions(pipeline: Pipeline, model: str) -> list[str]:
    client = MlflowClient(pipeline.mlflow.url)
    return [str(v.version) for v in client.search_model_versions(f"name = '{model}'")]


def assert_nothing_happened(pipeline: Pipeline, model: str, execution: str, before: dict[str, str]) -> None:
    """Both accounts' live unchanged, no model version, no approval record, locks free."""
    assert live_versions(pipeline, model) == before
    assert registered_versions(pipeline, model) == []
    assert pipeline.approvals.list_for_execution(model, execution) == []
    assert_locks_free(pipeline)


def assert_training_failure_reported(pipeline: Pipeline, execution: str, line: str) -> None:
    """The run record's Train step and the thread's last message carry ``line`` and the log file."""
    run = pipeline.runs.get(execution)
    assert run is not None and run.status == "FAILED"
    train = [s for s in run.steps if s.step == "Train"]
    assert len(train) == 1 and train[0].status == "FAILED", run.steps
    log = train[0].log
    assert log is not None and log.error == "", train[0]
    assert log.lines[-1] == line, log.lines
    log_file = Path(log.location)
    assert log_file.is_file() and line in log_file.read_text()  # the whole log, locally
    last = last_message(pipeline, execution)
    assert line in last and f"Full log: `{log_file}`" in last, last


def test_train_py_exiting_1_ends_in_training_failed_with_its_output(
    pipeline: Pipeline, train_py: Any
) -> None:
    pipeline.stack.declare_model("trainexit")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "trainexit")
    commit = train_py({"name": "trainexit", "metrics": {"rmse": 3.0}}, FAILING)
    execution = pipeline.stack.start(commit)

    entered = ended_in(pipeline, execution, "Train", "ReportTrainFailed", "TrainingFailed")
    assert "Build" not in entered
    assert_nothing_happened(pipeline, "trainexit", execution, before)
    assert_training_failure_reported(
        pipeline, execution, "training failed: data/train.csv has no column 'target'"
    )


def test_train_py_importing_a_missing_module_reports_the_module_not_found(
    pipeline: Pipeline, train_py: Any
) -> None:
    pipeline.stack.declare_model("trainimport")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "trainimport")
    commit = train_py({"name": "trainimport", "metrics": {"rmse": 3.0}}, MISSING_MODULE)
    execution = pipeline.stack.start(commit)

    ended_in(pipeline, execution, "Train", "ReportTrainFailed", "TrainingFailed")
    assert_nothing_happened(pipeline, "trainimport", execution, before)
    line = "ModuleNotFoundError: No module named 'sklearn_but_misspelt_in_train'"
    assert_training_failure_reported(pipeline, execution, line)


def test_train_py_reading_pipeline_secrets_gets_nothing(pipeline: Pipeline, train_py: Any) -> None:
    """No MLflow or Slack settings in its environment, AccessDenied on the Slack secrets.

    Without the emulator's IAM check for the untrusted role, train.py reads both secrets and
    exits 3: the run ends TrainingFailed instead of going on to Build.
    """
    secrets = [pipeline.stack.secret_arn, pipeline.stack.signing_secret_arn]
    champion = register_champion(pipeline, "trainsecrets", rmse=1.0)
    pipeline.stack.declare_model("trainsecrets")  # Terraform's models: its functions exist before the push
    before = live_versions(pipeline, "trainsecrets")
    spec = {"name": "trainsecrets", "metrics": {"rmse": 2.0}, "secrets": secrets}
    commit = train_py(spec, SECRET_HUNTER)
    execution = pipeline.stack.start(commit)

    # Past Train: Build registers the model as usual, and the gate (worse than the champion) ends
    # the run before anything is deployed or an approval asked for.
    entered = ended_in(pipeline, execution, "Evaluate", "GatePassed?", "QualityGateFailed")
    assert "Build" in entered and "ReportTrainFailed" not in entered
    assert live_versions(pipeline, "trainsecrets") == before
    assert registry_alias(pipeline, "trainsecrets", "production") == champion
    assert len(registered_versions(pipeline, "trainsecrets")) == 2  # the champion and this build's
    assert pipeline.approvals.list_for_execution("trainsecrets", execution) == []
    assert_locks_free(pipeline)
    last = last_message(pipeline, execution)
    assert "Evaluate failed: rmse 2" in last and f"champion v{champion}" in last, last

    log = train_log(pipeline, commit)
    assert "pipeline settings in the environment: none" in log
    for arn in secrets:
        assert f"{arn}: AccessDeniedException: User: " in log, log
        assert "is not authorized to perform: secretsmanager:GetSecretValue" in log
    assert "OBTAINED" not in log


def train_log(pipeline: Pipeline, commit: str) -> str:
    """The whole local log of the training build of ``commit`` (its record's deepLink file)."""
    codebuild = pipeline.emu.client("codebuild")
    ids = codebuild.list_builds_for_project(projectName=pipeline.stack.train_project)["ids"]
    builds = [b for b in codebuild.batch_get_builds(ids=ids)["builds"] if b.get("sourceVersion") == commit]
    assert len(builds) == 1, [b.get("sourceVersion") for b in builds]
    link = str(builds[0]["logs"]["deepLink"])
    assert link.startswith("file://"), link
    return Path(url2pathname(urlparse(link).path)).read_text()


def register_champion(pipeline: Pipeline, name: str, rmse: float) -> str:
    """A version behind alias production with ``rmse`` (the gate's champion), straight in MLflow."""
    client = MlflowClient(pipeline.mlflow.url)
    run = client.create_run(client.create_experiment(f"{name}-champion"))
    client.log_metric(run.info.run_id, "rmse", rmse)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, "production", version.version)
    return str(version.version)
