"""One MLflow task for the contract tier, started the way ECS starts it.

``docker/mlflow/entrypoint.py`` runs in its own venv installed from the image's lock, with the
environment and secrets of the ECS task definition that terraform/modules/mlflow renders
(task_definition.py), against a real PostgreSQL server (postgres.py) and moto's Secrets
Manager and S3. What has to point at this machine instead of AWS is replaced, and only that:
``SUBSTITUTED`` and ``ADDED`` list each such value and why. The server is shared by the tests
of the session; ``test_mlflow_task.py`` runs the idle measurement first, on the fresh server.

Without a PostgreSQL server or Terraform the tier is skipped with the reason, except under
``CI=true``, where it fails: CI must run it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline import tf
from mlops_pipeline.local.stack.mlflow_server import free_port
from tests.ci import unavailable
from tests.contract import server_venv
from tests.contract.postgres import PostgresServer, PostgresUnavailableError, find_bindir
from tests.contract.task_definition import RenderedTask, render

ENTRYPOINT = server_venv.IMAGE_DIR / "entrypoint.py"
REGION = "us-east-1"
PIPELINE_USERNAME = "mlops-pipeline"
START_TIMEOUT_S = 240

# Task-definition values replaced because they name AWS resources that do not exist here.
SUBSTITUTED = {
    "MLFLOW_DB_HOST": "the Aurora cluster endpoint -> the local PostgreSQL server (127.0.0.1)",
    "MLFLOW_DB_PORT": "5432 -> the local server's free port",
    "MLFLOW_DB_SECRET_ARN": "the RDS-managed secret -> the moto secret seeded with the same JSON shape",
}
# Set by ECS/Fargate or this machine, not by the task definition.
ADDED = {
    "MLFLOW_PORT": "the container's port 5000 may be taken here: a free port (the task uses the default, 5000)",
    "MLFLOW_BIND_HOST": "servers a test starts listen on loopback only (the task listens on every interface)",
    "AWS_REGION": "Fargate sets it for every task",
    "AWS_DEFAULT_REGION": "Fargate sets it for every task",
    "AWS_ACCESS_KEY_ID": "the task role's credentials come from the ECS credentials endpoint; moto takes any",
    "AWS_SECRET_ACCESS_KEY": "as AWS_ACCESS_KEY_ID",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "Secrets Manager is moto's (boto3 reads this natively)",
    "AWS_ENDPOINT_URL_S3": "S3 is moto's; the bucket keeps the module's name",
    "PATH": "process basics",
    "HOME": "process basics",
}


@dataclass
class MotoAws:
    endpoint: str
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            import boto3

            self.clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="contract",
                aws_secret_access_key="contract",
            )
        return self.clients[service]


@dataclass
class MlflowTask:
    """The running task and what a test needs to talk to it."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    rendered: RenderedTask
    aws: MotoAws
    pg: PostgresServer
    admin: tuple[str, str]
    pipeline: tuple[str, str]
    db_secret_arn: str  # the moto secret the server reads the database credentials from
    secret_arns: dict[str, str]  # Terraform's secret ARN -> the moto secret seeded for it
    db_user: str
    databases: tuple[str, str]
    bucket: str

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def request(
        self,
        path: str,
        *,
        auth: tuple[str, str] | None = None,
        host: str | None = None,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if host is not None:
            headers["Host"] = host
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")


def _token() -> str:
    return secrets.token_hex(20)


def _moto_name(arn: str) -> str:
    """The secret's name from a Secrets Manager ARN (name-XXXXXX), in characters moto accepts."""
    name = arn.split(":secret:", 1)[1]
    name = re.sub(r"-[A-Za-z0-9]{6}$", "", name)
    return re.sub(r"[^A-Za-z0-9/_+=.@-]", "-", name)


def _seed_secrets(
    rendered: RenderedTask, aws: MotoAws, db_user: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """One moto secret per secret the task names; returns {task ARN: moto ARN} and the values."""
    values: dict[str, dict[str, str]] = {}
    for ref in rendered.secrets:
        values.setdefault(ref.arn, {})
        if ref.key == "username":
            values[ref.arn][ref.key] = (
                "admin" if ref.name.startswith("MLFLOW_AUTH_ADMIN") else PIPELINE_USERNAME
            )
        else:
            values[ref.arn][ref.key] = _token()
    db_arn = rendered.environment["MLFLOW_DB_SECRET_ARN"]
    values[db_arn] = {"username": db_user, "password": _token()}  # the JSON shape RDS writes
    sm = aws.client("secretsmanager")
    arns = {}
    for arn, value in values.items():
        arns[arn] = sm.create_secret(Name=_moto_name(arn), SecretString=json.dumps(value))["ARN"]
    return arns, values


def _resolve_secrets(rendered: RenderedTask, aws: MotoAws, arns: Mapping[str, str]) -> dict[str, str]:
    """What ECS does with ``secrets[]``: GetSecretValue, then the JSON key, into the variable."""
    sm = aws.client("secretsmanager")
    resolved = {}
    for ref in rendered.secrets:
        document = json.loads(sm.get_secret_value(SecretId=arns[ref.arn])["SecretString"])
        resolved[ref.name] = str(document[ref.key])
    return resolved


def _wait_ready(task: MlflowTask) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if task.process.poll() is not None:
            raise AssertionError(f"the entrypoint exited with {task.process.returncode}:\n{task.log_tail()}")
        log = task.log_path.read_text(errors="replace")
        if "pipeline user created" in log or "pipeline user exists" in log:
            return
        if "could not create the pipeline user" in log:  # serving, but not as the task must
            return
        time.sleep(0.5)
    raise AssertionError(f"MLflow did not become ready within {START_TIMEOUT_S} s:\n{task.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


_RENDERED: dict[str, RenderedTask] = {}
_RENDER_LOCK = threading.Lock()


def rendered_once(tmp_path_factory: pytest.TempPathFactory) -> RenderedTask:
    """The fixture's Terraform state (task definition, CodeBuild project, Lambdas), once a session."""
    with _RENDER_LOCK:
        if "state" not in _RENDERED:
            _RENDERED["state"] = render(tmp_path_factory.mktemp("task-definition"))
        return _RENDERED["state"]


@pytest.fixture(scope="session")
def rendered_terraform(tmp_path_factory: pytest.TempPathFactory) -> RenderedTask:
    """What Terraform renders for the MLflow task and the pipeline wired to it (no server)."""
    if tf.find_terraform() is None:
        unavailable("terraform is not installed (needs Terraform >= 1.11 on PATH or TERRAFORM=...)")
    return rendered_once(tmp_path_factory)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        bindir = find_bindir()
    except PostgresUnavailableError as exc:
        unavailable(str(exc))
    server = PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        tail = server.log_tail()
        server.stop()
        raise AssertionError(f"PostgreSQL did not start:\n{tail}") from None
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_aws() -> Iterator[MotoAws]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoAws(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_task(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[MlflowTask]:
    # Terraform renders the task definition while PostgreSQL and moto start and the venv is checked.
    rendered: dict[str, Any] = {}

    def _render() -> None:
        try:
            rendered["task"] = rendered_once(tmp_path_factory)
        except BaseException as exc:
            rendered["error"] = exc

    if tf.find_terraform() is None:
        unavailable("terraform is not installed (needs Terraform >= 1.11 on PATH or TERRAFORM=...)")
    thread = threading.Thread(target=_render, daemon=True)
    thread.start()
    try:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        moto_aws: MotoAws = request.getfixturevalue("moto_aws")
        python = server_venv.ensure()
    finally:
        thread.join()
    if "error" in rendered:
        raise rendered["error"]
    task_def: RenderedTask = rendered["task"]

    cluster = task_def.resource("aws_rds_cluster.this")
    db_user, db_name = cluster["master_username"], cluster["database_name"]
    # What RDS creates with the cluster: the master user (it may create databases) and its database.
    password_placeholder = _token()
    postgres.query(f"CREATE ROLE {db_user} LOGIN CREATEDB PASSWORD '{password_placeholder}'")
    postgres.query(f"CREATE DATABASE {db_name} OWNER {db_user}")

    arns, values = _seed_secrets(task_def, moto_aws, db_user)
    db_arn = task_def.environment["MLFLOW_DB_SECRET_ARN"]
    postgres.query(f"ALTER ROLE {db_user} PASSWORD '{values[db_arn]['password']}'")
    bucket_uri = task_def.environment["MLFLOW_DEFAULT_ARTIFACT_ROOT"]
    bucket = bucket_uri.removeprefix("s3://").split("/", 1)[0]
    moto_aws.client("s3").create_bucket(Bucket=bucket)

    port = free_port()
    env = dict(task_def.environment)  # as the task definition has it ...
    env.update(_resolve_secrets(task_def, moto_aws, arns))  # ... plus its secrets, as ECS resolves them
    substitutions = {
        "MLFLOW_DB_HOST": postgres.host,
        "MLFLOW_DB_PORT": str(postgres.port),
        "MLFLOW_DB_SECRET_ARN": arns[db_arn],
    }
    assert set(substitutions) == set(SUBSTITUTED)
    missing = set(substitutions) - set(task_def.environment)
    assert not missing, f"the task definition no longer sets {sorted(missing)}; update SUBSTITUTED"
    env.update(substitutions)
    added = {
        "MLFLOW_PORT": str(port),
        "MLFLOW_BIND_HOST": "127.0.0.1",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "contract",
        "AWS_SECRET_ACCESS_KEY": "contract",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_aws.endpoint,
        "AWS_ENDPOINT_URL_S3": moto_aws.endpoint,
        "PATH": f"{python.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path_factory.mktemp("home")),
    }
    assert set(added) == set(ADDED)
    assert not set(added) & set(task_def.environment), "ADDED must not override the task definition"
    env.update(added)

    log_path = tmp_path_factory.mktemp("mlflow-task") / "task.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(python), str(ENTRYPOINT)],
            env=env,
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    admin_ref = next(r for r in task_def.secrets if r.name == "MLFLOW_AUTH_ADMIN_PASSWORD")
    pipeline_ref = next(r for r in task_def.secrets if r.name == "MLFLOW_PIPELINE_PASSWORD")
    task = MlflowTask(
        url=f"http://127.0.0.1:{port}",
        port=port,
        process=process,
        log_path=log_path,
        env=env,
        rendered=task_def,
        aws=moto_aws,
        pg=postgres,
        admin=(values[admin_ref.arn]["username"], values[admin_ref.arn]["password"]),
        pipeline=(values[pipeline_ref.arn]["username"], values[pipeline_ref.arn]["password"]),
        db_secret_arn=arns[db_arn],
        secret_arns=arns,
        db_user=db_user,
        databases=(task_def.environment["MLFLOW_DB_NAME"], task_def.environment["MLFLOW_AUTH_DB_NAME"]),
        bucket=bucket,
    )
    try:
        _wait_ready(task)
        yield task
    finally:
        _stop(process)


def build_environment(task: MlflowTask) -> dict[str, str]:
    """The CodeBuild project's environment as CodeBuild resolves it at build start: plaintext
    values as they are, ``SECRETS_MANAGER`` ones (``<secret arn>:<json key>``) from the secret."""
    sm = task.aws.client("secretsmanager")
    resolved = {}
    for name, (kind, value) in task.rendered.build_environment().items():
        if kind == "SECRETS_MANAGER":
            arn, key = value.rsplit(":", 1)
            document = json.loads(sm.get_secret_value(SecretId=task.secret_arns[arn])["SecretString"])
            resolved[name] = str(document[key])
        else:
            resolved[name] = value
    return resolved


@pytest.fixture
def pipeline_client_env(mlflow_task: MlflowTask, monkeypatch: pytest.MonkeyPatch) -> MlflowTask:
    """The process environment of the pipeline's build: the CodeBuild project's variables as
    Terraform renders them (names and all), with the secrets resolved the way CodeBuild does.

    Substituted: the tracking URI is the server itself (the front door's https URL does not exist
    here) and S3 is moto's. The build's variables that name AWS resources are harmless here.
    """
    for name, value in build_environment(mlflow_task).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_task.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", mlflow_task.aws.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "contract")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "contract")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return mlflow_task
