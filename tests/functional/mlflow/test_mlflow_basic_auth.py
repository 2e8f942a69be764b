"""A basic-auth MLflow server with artifacts in the emulator's S3: the pipeline's own user."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from mlflow import MlflowClient
from moto.server import ThreadedMotoServer

from mlops_pipeline.adapters.mlflow_registry import (
    PASSWORD_ENV,
    USERNAME_ENV,
    configure_credentials,
    from_environment,
)
from mlops_pipeline.domain.errors import RegistryAuthenticationError
from mlops_pipeline.local.stack.mlflow_server import MlflowServer, MlflowServerError

pytestmark = pytest.mark.functional

BUCKET = "mlops-mlflow-artifacts"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:mlops-mlflow-pipeline-AbCdEf"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def clean_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start without MLflow credentials and restore the environment afterwards."""
    for name in (USERNAME_ENV, PASSWORD_ENV):
        monkeypatch.setenv(name, "unset")  # records the original value for the undo
        monkeypatch.delenv(name)


def test_pipeline_user_on_basic_auth_server_with_s3_artifacts(
    tmp_path: Path,
    s3_endpoint: str,
    clean_credentials: None,
    make_models: Callable[..., object],
    process_group_exists: Callable[[int], bool],
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    server = MlflowServer(
        tmp_path / "mlflow",
        app_name="basic-auth",
        artifacts_destination=f"s3://{BUCKET}/mlflow",
        env={"MLFLOW_S3_ENDPOINT_URL": s3_endpoint, **AWS_ENV},
    )

    with server:
        pid = server.pid
        assert pid is not None and server.startup_seconds is not None
        admin = server.admin_credentials
        assert admin.password not in repr(admin)
        assert server.auth_config_path.stat().st_mode & 0o777 == 0o600
        assert admin.password not in server.log_path.read_text(encoding="utf-8")

        # The pipeline gets its own user; its credentials come from "Secrets Manager".
        password = secrets.token_urlsafe(18)
        user = server.create_user("mlops-pipeline", password)
        assert user.username == "mlops-pipeline"
        read_arns: list[str] = []

        def secret_reader(arn: str) -> dict[str, str]:
            read_arns.append(arn)
            return {"username": "mlops-pipeline", "password": password}

        registry = from_environment(
            secret_reader,
            environ={"MLFLOW_TRACKING_URI": server.url, "MLFLOW_CREDENTIALS_SECRET_ARN": SECRET_ARN},
        )
        assert read_arns == [SECRET_ARN]

        models = make_models(MlflowClient(tracking_uri=server.url, registry_uri=server.url), tmp_path / "src")
        name = f"churn-{uuid.uuid4().hex[:6]}"
        commit = uuid.uuid4().hex
        version = models.version(name, {"accuracy": 0.93}, {"git_commit": commit})  # type: ignore[attr-defined]
        assert registry.get_champion(name) is None
        registry.set_alias(name, "production", version)
        registry.set_tags(name, version, {"approved_by": "U42"})
        found = registry.find_version_by_commit(name, commit)
        assert found is not None
        assert (found.version, found.aliases, found.tags["approved_by"]) == (version, ("production",), "U42")
        assert found.metrics == {"accuracy": pytest.approx(0.93)}
        keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/")["Contents"]]
        assert any(key.endswith(f"{found.run_id}/artifacts/model/MLmodel") for key in keys), keys

        # A wrong password is a clear authentication error that does not echo the password.
        configure_credentials("mlops-pipeline", "wrong-password-123456")
        with pytest.raises(RegistryAuthenticationError, match="MLflow refused") as refused:
            registry.get_champion(name)
        assert "wrong-password" not in str(refused.value)
        with pytest.raises(RegistryAuthenticationError):
            registry.set_alias(name, "staging", version)

        # Without credentials the server refuses as well.
        configure_credentials("mlops-pipeline", password)
        assert registry.get_by_alias(name, "staging") is None  # the refused write changed nothing

        with pytest.raises(MlflowServerError, match="12 characters"):
            server.create_user("too-short", "short")

    assert not server.running
    assert not process_group_exists(pid)
