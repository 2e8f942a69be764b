"""The pipeline's MLflow settings match the MLflow server's auth, as Terraform wires them.

terraform/live/aws cannot be planned offline (its ephemeral passwords need Secrets Manager), so
the contract fixture (tests/contract/task_definition) wires the pipeline module to the mlflow
module with the live root's own expressions (checked here) and Terraform renders both. From
that state: what the pipeline Lambdas that talk to MLflow and the CodeBuild project get, against
what the MLflow task reads. The live server logs them in: test_mlflow_task.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mlops_pipeline.adapters import mlflow_registry
from tests.contract.task_definition import FIXTURE, RenderedTask
from tests.terraform.test_trust_wiring import argument, module_block

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
MLFLOW_ARGUMENTS = ("mlflow_tracking_uri", "mlflow_ui_url", "mlflow_credentials_secret_arn")


def test_the_fixture_wires_mlflow_into_the_pipeline_as_live_aws_does() -> None:
    live = module_block((REPO / "terraform" / "live" / "aws" / "main.tf").read_text(), "pipeline")
    fixture = module_block((FIXTURE / "main.tf").read_text(), "pipeline")
    for name in MLFLOW_ARGUMENTS:
        assert argument(fixture, name) == argument(live, name), name
    assert argument(live, "mlflow_credentials_secret_arn") == "module.mlflow.pipeline_credentials_secret_arn"


def _pipeline_secret(rendered: RenderedTask) -> tuple[str, set[str]]:
    """The mlflow module's pipeline-user secret and the JSON keys the MLflow task reads from it."""
    arn = rendered.resource("aws_secretsmanager_secret.pipeline")["arn"]
    keys = {ref.key for ref in rendered.secrets if ref.arn == arn}
    assert {ref.name for ref in rendered.secrets if ref.arn == arn} == {
        "MLFLOW_PIPELINE_USERNAME",
        "MLFLOW_PIPELINE_PASSWORD",
    }
    return arn, keys


def test_lambdas_read_the_pipeline_user_s_secret_and_reach_the_front_door(
    rendered_terraform: RenderedTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = rendered_terraform
    arn, keys = _pipeline_secret(rendered)
    allowed = set(rendered.environment["MLFLOW_ALLOWED_HOSTS"].split(","))
    talking = {
        name: env
        for name, env in rendered.lambda_environments().items()
        if mlflow_registry.TRACKING_URI_ENV in env
    }
    # rollback_prod moves the registry's alias back when prod is rolled back by hand; stage's
    # rollback never talks to MLflow.
    assert set(talking) >= {"evaluate", "promote", "rollback_prod"}, sorted(talking)
    assert "rollback_stage" not in talking, sorted(talking)
    for name, env in talking.items():
        assert env[mlflow_registry.CREDENTIALS_SECRET_ENV] == arn, name
        uri = urlparse(env[mlflow_registry.TRACKING_URI_ENV])
        assert uri.scheme == "https" and uri.netloc in allowed, (name, uri.geturl(), allowed)
    # The adapter reads the keys the MLflow task writes the pipeline user from, and no others.
    for name in (
        mlflow_registry.USERNAME_ENV,
        mlflow_registry.PASSWORD_ENV,
        *mlflow_registry.HTTP_BOUND_ENVS,
    ):
        monkeypatch.delenv(name, raising=False)  # from_environment sets them: undone after the test
    secret = {key: f"value-of-{key}" for key in keys}
    registry = mlflow_registry.from_environment(lambda _arn: secret, talking["evaluate"])
    assert registry is not None
    assert (os.environ[mlflow_registry.USERNAME_ENV], os.environ[mlflow_registry.PASSWORD_ENV]) == (
        "value-of-username",
        "value-of-password",
    )


def test_codebuild_reads_the_pipeline_user_s_secret_and_reaches_the_front_door(
    rendered_terraform: RenderedTask,
) -> None:
    rendered = rendered_terraform
    arn, keys = _pipeline_secret(rendered)
    build = rendered.build_environment()
    # CodeBuild's secrets-manager mapping: <secret arn>:<json key> into the MLflow client's variables.
    mapped = {name: value for name, (kind, value) in build.items() if kind == "SECRETS_MANAGER"}
    assert mapped == {
        mlflow_registry.USERNAME_ENV: f"{arn}:username",
        mlflow_registry.PASSWORD_ENV: f"{arn}:password",
    }
    assert {value.rsplit(":", 1)[1] for value in mapped.values()} == keys
    kind, uri = build[mlflow_registry.TRACKING_URI_ENV]
    allowed = set(rendered.environment["MLFLOW_ALLOWED_HOSTS"].split(","))
    assert kind == "PLAINTEXT" and urlparse(uri).scheme == "https" and urlparse(uri).netloc in allowed
