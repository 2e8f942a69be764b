"""Start the MLflow tracking server with authentication, configured from the environment.

ECS injects the secrets (Secrets Manager -> environment) and the settings:

    MLFLOW_DB_HOST, MLFLOW_DB_PORT (3306), MLFLOW_DB_NAME (mlflow), MLFLOW_AUTH_DB_NAME (mlflow_auth)
    MLFLOW_DB_USERNAME, MLFLOW_DB_PASSWORD          RDS-managed master secret
    MLFLOW_AUTH_ADMIN_USERNAME, MLFLOW_AUTH_ADMIN_PASSWORD   admin secret
    MLFLOW_PIPELINE_USERNAME, MLFLOW_PIPELINE_PASSWORD       the pipeline's own user
    MLFLOW_ARTIFACTS_DESTINATION                    s3://bucket/prefix
    MLFLOW_ALLOWED_HOSTS                             Host headers to accept (front door)

The database password may hold any character, so the SQLAlchemy URL is built with
URL.create (escaping) instead of string formatting. Nothing secret is printed.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        sys.exit(f"mlflow-entrypoint: {name} is required")
    return value


def _db_url(database: str) -> str:
    url = URL.create(
        "mysql+pymysql",
        username=_env("MLFLOW_DB_USERNAME"),
        password=_env("MLFLOW_DB_PASSWORD"),
        host=_env("MLFLOW_DB_HOST"),
        port=int(_env("MLFLOW_DB_PORT", "3306")),
        database=database,
    )
    return url.render_as_string(hide_password=False)


def _ensure_database(name: str) -> None:
    # Aurora may be resuming from auto-pause: retry for up to ~2 minutes.
    engine = create_engine(_db_url(""), pool_pre_ping=True)
    for attempt in range(24):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
            return
        except Exception as exc:  # noqa: BLE001 - any connection error means "not yet"
            print(f"mlflow-entrypoint: waiting for the database ({type(exc).__name__}), attempt {attempt + 1}")
            time.sleep(5)
    sys.exit("mlflow-entrypoint: database unreachable")


def _auth_config(path: str) -> None:
    with open(path, "w") as handle:
        handle.write(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {_db_url(_env('MLFLOW_AUTH_DB_NAME', 'mlflow_auth'))}\n"
            f"admin_username = {_env('MLFLOW_AUTH_ADMIN_USERNAME')}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    os.chmod(path, 0o600)


def _ensure_pipeline_user() -> None:
    """Create the pipeline's own (non-admin) user once the server answers."""
    username = os.environ.get("MLFLOW_PIPELINE_USERNAME")
    password = os.environ.get("MLFLOW_PIPELINE_PASSWORD")
    if not username or not password:
        return
    admin = f"{_env('MLFLOW_AUTH_ADMIN_USERNAME')}:{_env('MLFLOW_AUTH_ADMIN_PASSWORD')}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(admin.encode()).decode(),
        "Content-Type": "application/json",
    }
    body = json.dumps({"username": username, "password": password}).encode()
    for _ in range(60):
        request = urllib.request.Request(
            "http://127.0.0.1:5000/api/2.0/mlflow/users/create", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                print("mlflow-entrypoint: pipeline user created")
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 409):  # RESOURCE_ALREADY_EXISTS
                return
            time.sleep(2)
        except (urllib.error.URLError, OSError):
            time.sleep(2)


def main() -> None:
    _ensure_database(_env("MLFLOW_DB_NAME", "mlflow"))
    _ensure_database(_env("MLFLOW_AUTH_DB_NAME", "mlflow_auth"))
    config_dir = tempfile.mkdtemp(prefix="mlflow-auth-")
    config = os.path.join(config_dir, "basic_auth.ini")
    _auth_config(config)
    env = dict(os.environ)
    env["MLFLOW_AUTH_CONFIG_PATH"] = config
    # Close connections after each request so Aurora Serverless v2 can auto-pause at 0 ACU.
    env.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    cmd = [
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "0.0.0.0",  # noqa: S104 - inside the task; the security group admits only the front door
        "--port",
        "5000",
        "--backend-store-uri",
        _db_url(_env("MLFLOW_DB_NAME", "mlflow")),
        "--serve-artifacts",
        "--artifacts-destination",
        _env("MLFLOW_ARTIFACTS_DESTINATION"),
        "--workers",
        os.environ.get("MLFLOW_WORKERS", "1"),
    ]
    allowed = os.environ.get("MLFLOW_ALLOWED_HOSTS")
    if allowed:
        cmd += ["--allowed-hosts", allowed]
    server = subprocess.Popen(cmd, env=env)  # noqa: S603 - fixed argument list
    _ensure_pipeline_user()
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
