"""The MLflow task on AWS, started here exactly as its ECS task definition starts it.

Each test shows one behaviour the emulator cannot: the server starts with the image's own
dependencies and the module's environment (a missing auth extra or Flask secret key stops it),
it leaves the database alone while idle (Aurora can pause), it survives RDS's password
rotation, artifacts of any size go to S3 directly, and only the front door's Host headers are
served. The idle measurement runs first, on the fresh server with nothing else touching it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.contract.conftest import MlflowTask

# The first test also waits for the server venv when the lock changed (pip, a few minutes).
pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.timeout(900)]

IDLE_SECONDS = float(os.environ.get("MLFLOW_IDLE_SECONDS", "120"))
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def _activity(task: MlflowTask) -> tuple[int, int, int]:
    """(statements, sessions, transactions) so far in the MLflow databases (not the test's own)."""
    # Database names from the task definition, not user input.
    names = ", ".join(f"'{name}'" for name in task.databases)
    statements = 0
    if task.pg.pg_stat_statements:
        rows = task.pg.query(
            "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "  # noqa: S608
            f"JOIN pg_database d ON d.oid = s.dbid WHERE d.datname IN ({names})"
        )
        statements = int(rows[0][0])
    rows = task.pg.query(
        "SELECT coalesce(sum(sessions), 0), coalesce(sum(xact_commit + xact_rollback), 0) "  # noqa: S608
        f"FROM pg_stat_database WHERE datname IN ({names})"
    )
    return statements, int(rows[0][0]), int(rows[0][1])


def test_idle_server_sends_nothing_to_the_database(mlflow_task: MlflowTask) -> None:
    """Idle, the server must not connect to the database at all, or Aurora never pauses at 0 ACU.

    MLflow's job scheduler (on by default) polls the database every minute; the task definition
    turns it off. Counted: statements in the MLflow databases (pg_stat_statements; transactions
    from pg_stat_database when it is missing) and new connections.
    """
    time.sleep(2)  # let the start-up's last connections close and their statistics land
    before = _activity(mlflow_task)
    began = time.monotonic()
    time.sleep(IDLE_SECONDS)
    time.sleep(1)  # statistics of a connection that closed at the very end
    after = _activity(mlflow_task)
    seconds = round(time.monotonic() - began)
    statements, sessions, transactions = (b - a for a, b in zip(before, after, strict=True))
    counted = statements if mlflow_task.pg.pg_stat_statements else transactions
    print(f"\nmlflow-idle: statements={counted} seconds={seconds}")
    print(f"mlflow-idle-detail: sessions={sessions} transactions={transactions} "
          f"source={'pg_stat_statements' if mlflow_task.pg.pg_stat_statements else 'pg_stat_database'}")  # fmt: skip
    assert mlflow_task.process.poll() is None, mlflow_task.log_tail()
    assert (counted, sessions) == (0, 0), (
        f"the idle server used the database: {counted} statements, {sessions} connections in {seconds} s"
    )


def test_basic_auth_is_enforced_without_a_default_admin(mlflow_task: MlflowTask) -> None:
    assert mlflow_task.request(SEARCH)[0] == 401, "unauthenticated requests must be refused"
    # The admin password older MLflow versions shipped (GHSA-gq3w-7jj3-x7gr) must not work.
    assert mlflow_task.request(SEARCH, auth=("admin", "password1234"))[0] == 401
    assert mlflow_task.request(SEARCH, auth=(mlflow_task.admin[0], "wrong"))[0] == 401
    assert mlflow_task.request(SEARCH, auth=mlflow_task.admin)[0] == 200
    assert mlflow_task.request(SEARCH, auth=mlflow_task.pipeline)[0] == 200


def test_host_header_check_accepts_the_front_door_only(mlflow_task: MlflowTask) -> None:
    """The API Gateway HTTP API forwards its own host name or the Cloud Map name; nothing else passes."""
    rendered = mlflow_task.rendered
    api_host = urlparse(rendered.resource("aws_apigatewayv2_api.this[0]")["api_endpoint"]).netloc
    service = rendered.resource("aws_service_discovery_service.this[0]")["name"]
    namespace = rendered.resource("aws_service_discovery_private_dns_namespace.this[0]")["name"]
    cloud_map = f"{service}.{namespace}:{rendered.container['portMappings'][0]['containerPort']}"
    for host in (api_host, cloud_map):
        status, body = mlflow_task.request(SEARCH, auth=mlflow_task.pipeline, host=host)
        assert status == 200, f"Host {host!r} (front door) refused: {status} {body[:200]}"
    for host in ("evil.example.com", f"{api_host}.evil.example.com", "attacker.internal:5000"):
        status, _ = mlflow_task.request(SEARCH, auth=mlflow_task.pipeline, host=host)
        assert status == 403, f"Host {host!r} must be refused (DNS rebinding), got {status}"


def test_pipeline_user_creates_a_run_and_registers_a_model(
    pipeline_client_env: MlflowTask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What CodeBuild's register step and the Lambdas do, each with the settings Terraform gives it:
    the build's client from the CodeBuild project's environment (secrets resolved as CodeBuild
    does), the Lambdas' registry from ``from_environment`` with a Lambda's rendered environment."""
    from mlops_pipeline.adapters import mlflow_registry
    from mlops_pipeline.model_build.runner import Builder, BuildSettings

    task = pipeline_client_env
    client = Builder(BuildSettings.from_env(tmp_path)).client  # the build's own client
    experiment_id = client.create_experiment(f"contract-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id, tags={"git_commit": "c0ffee"})
    client.log_metric(run.info.run_id, "rmse", 0.5)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    client.log_artifacts(run.info.run_id, str(model_dir), "model")  # to S3, by the client
    client.set_terminated(run.info.run_id)

    name = f"contract-model-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={"git_commit": "c0ffee"}
    )
    # A pipeline Lambda that talks to MLflow (evaluate; promote and request_approval get the same),
    # with its environment as Terraform renders it: only the front door's URL is substituted.
    for variable in (mlflow_registry.USERNAME_ENV, mlflow_registry.PASSWORD_ENV):
        monkeypatch.delenv(variable)  # a Lambda gets no credentials but the secret's
    for variable in mlflow_registry.HTTP_BOUND_ENVS:  # from_environment sets them: undo after the test
        if variable in os.environ:
            monkeypatch.setenv(variable, os.environ[variable])
        else:
            monkeypatch.delenv(variable, raising=False)
    environ = dict(task.rendered.lambda_environments()["evaluate"])
    environ[mlflow_registry.TRACKING_URI_ENV] = task.url

    def read_secret(arn: str) -> dict[str, str]:  # what the handlers' secret reader returns
        sm = task.aws.client("secretsmanager")
        return dict(json.loads(sm.get_secret_value(SecretId=task.secret_arns[arn])["SecretString"]))

    registry = mlflow_registry.from_environment(read_secret, environ)
    registry.set_alias(name, "staging", str(version.version))
    staged = registry.get_by_alias(name, "staging")
    assert staged is not None and staged.version == str(version.version)
    assert staged.run_id == run.info.run_id and staged.metrics == {"rmse": 0.5}
    assert staged.source is not None and staged.source.startswith(f"s3://{task.bucket}/"), staged.source


def test_large_artifact_goes_to_s3_directly(pipeline_client_env: MlflowTask, tmp_path: Path) -> None:
    """An 11 MB artifact (over API Gateway's 10 MB payload limit) is written to S3 by the client."""
    from mlflow import MlflowClient

    task = pipeline_client_env
    client = MlflowClient(tracking_uri=task.url)
    experiment_id = client.create_experiment(f"contract-big-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    client.log_artifact(run.info.run_id, str(big))

    artifact_uri = client.get_run(run.info.run_id).info.artifact_uri
    root = task.env["MLFLOW_DEFAULT_ARTIFACT_ROOT"]
    assert artifact_uri.startswith(f"{root}/"), f"clients must get s3:// artifact URIs, got {artifact_uri}"
    key = f"{urlparse(artifact_uri).path.lstrip('/')}/big.bin"
    head = task.aws.client("s3").head_object(Bucket=task.bucket, Key=key)
    assert head["ContentLength"] == 11 * 1024 * 1024
    # The server has no artifact proxy at all (--no-serve-artifacts; as the admin, whom the
    # permission checks let through, so the answer is the proxy's own).
    status, body = task.request(
        "/api/2.0/mlflow-artifacts/artifacts/probe.bin", auth=task.admin, method="PUT", body=b"x"
    )
    assert status == 503 and "serve-artifacts" in body, (status, body[:300])


def test_server_survives_a_database_password_rotation(mlflow_task: MlflowTask) -> None:
    """RDS's managed rotation, step by step, while the server runs; every request keeps working."""
    sm = mlflow_task.aws.client("secretsmanager")
    old = json.loads(sm.get_secret_value(SecretId=mlflow_task.db_secret_arn)["SecretString"])
    assert mlflow_task.request(SEARCH, auth=mlflow_task.pipeline)[0] == 200  # credentials now cached
    new = {**old, "password": uuid.uuid4().hex}
    # createSecret: the new password as AWSPENDING; setSecret: the database takes it.
    sm.put_secret_value(
        SecretId=mlflow_task.db_secret_arn, SecretString=json.dumps(new), VersionStages=["AWSPENDING"]
    )
    mlflow_task.pg.query(f"ALTER ROLE {mlflow_task.db_user} PASSWORD '{new['password']}'")
    assert not mlflow_task.pg.can_login(old["username"], old["password"], mlflow_task.databases[0])
    status, body = mlflow_task.request(SEARCH, auth=mlflow_task.pipeline)
    assert status == 200, (
        f"between setSecret and finishSecret: {status} {body[:300]}\n{mlflow_task.log_tail()}"
    )
    # finishSecret: the new version becomes AWSCURRENT.
    sm.put_secret_value(SecretId=mlflow_task.db_secret_arn, SecretString=json.dumps(new))
    status, body = mlflow_task.request(SEARCH, auth=mlflow_task.admin)
    assert status == 200, f"after the rotation: {status} {body[:300]}\n{mlflow_task.log_tail()}"
    assert mlflow_task.process.poll() is None


def test_flask_secret_key_shares_the_admin_secret(mlflow_task: MlflowTask) -> None:
    """The task reads two secrets of the module's own: the admin one (with the Flask secret key
    as a third JSON key; each secret costs 0.40 USD a month) and the pipeline user's."""
    rendered = mlflow_task.rendered
    admin = rendered.resource("aws_secretsmanager_secret.admin")["arn"]
    pipeline = rendered.resource("aws_secretsmanager_secret.pipeline")["arn"]
    refs = {ref.name: (ref.arn, ref.key) for ref in rendered.secrets}
    assert refs["MLFLOW_FLASK_SERVER_SECRET_KEY"] == (admin, "secret_key")
    assert {arn for arn, _ in refs.values()} == {admin, pipeline}
    own = [a for a in rendered.resources if a.startswith("module.mlflow.aws_secretsmanager_secret.")]
    assert sorted(own) == ["module.mlflow.aws_secretsmanager_secret.admin",
                           "module.mlflow.aws_secretsmanager_secret.pipeline"]  # fmt: skip
    # The server started with it: the auth app refuses to start without a key.
    assert mlflow_task.env["MLFLOW_FLASK_SERVER_SECRET_KEY"]
