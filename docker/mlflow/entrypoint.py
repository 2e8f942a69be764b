"""Start the MLflow tracking server with authentication, configured from the environment.

The ECS task definition (terraform/modules/mlflow/service.tf) sets, and tests/contract runs
this file with exactly that environment:

    MLFLOW_DB_HOST, MLFLOW_DB_PORT (5432), MLFLOW_DB_NAME (mlflow), MLFLOW_AUTH_DB_NAME (mlflow_auth)
    MLFLOW_DB_SSLMODE (require)            libpq sslmode of every database connection
    MLFLOW_DB_SECRET_ARN                   the RDS-managed master secret {username, password}: read
                                           per new connection (rds_secret.py), never a static password,
                                           so the server survives RDS's password rotation
    MLFLOW_AUTH_ADMIN_USERNAME, MLFLOW_AUTH_ADMIN_PASSWORD   admin secret (ECS secrets -> env)
    MLFLOW_PIPELINE_USERNAME, MLFLOW_PIPELINE_PASSWORD       the pipeline's own user (ECS secrets)
    MLFLOW_FLASK_SERVER_SECRET_KEY         CSRF/session key of the basic-auth app (ECS secret)
    MLFLOW_DEFAULT_ARTIFACT_ROOT           s3://bucket/artifacts: clients read and write artifacts
                                           in S3 themselves (--no-serve-artifacts, no size limit)
    MLFLOW_ALLOWED_HOSTS                   Host headers to accept (the front door's names)
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION     false: no job scheduler polling the database
    MLFLOW_SQLALCHEMYSTORE_POOLCLASS       NullPool: no idle connections
    MLFLOW_WORKERS (1), MLFLOW_PORT (5000), MLFLOW_BIND_HOST (0.0.0.0; tests use 127.0.0.1)

Aurora Serverless v2 pauses at 0 ACU only while nothing connects: after start-up the server
touches the database only to answer requests. Nothing secret is printed.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rds_secret  # noqa: E402 - next to this file, see above

# Settings of the server process that the entrypoint consumes itself (not passed on).
_ENTRYPOINT_ONLY = ("MLFLOW_PIPELINE_USERNAME", "MLFLOW_PIPELINE_PASSWORD")


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        sys.exit(f"mlflow-entrypoint: {name} is required")
    return value


def _port() -> int:
    return int(_env("MLFLOW_PORT", "5000"))


def _db_url(database: str) -> str:
    """SQLAlchemy URL without credentials: the rds_secret plugin adds them per connection."""
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg",
        host=_env("MLFLOW_DB_HOST"),
        port=int(_env("MLFLOW_DB_PORT", "5432")),
        database=database,
        query={
            "plugin": "rds_secret",
            "sslmode": _env("MLFLOW_DB_SSLMODE", "require"),
            "connect_timeout": "10",
        },
    )
    return url.render_as_string(hide_password=False)


def _ensure_database(name: str) -> None:
    """Create ``name`` if missing; Aurora may be resuming from auto-pause: retry for ~2 minutes."""
    import psycopg
    from psycopg import sql

    reader = rds_secret.reader_from_environment()
    for attempt in range(24):
        creds = reader.current() if attempt == 0 else reader.fresh()[0]
        try:
            with psycopg.connect(
                host=_env("MLFLOW_DB_HOST"),
                port=int(_env("MLFLOW_DB_PORT", "5432")),
                dbname="postgres",
                user=creds.username,
                password=creds.password,
                sslmode=_env("MLFLOW_DB_SSLMODE", "require"),
                connect_timeout=10,
                autocommit=True,  # CREATE DATABASE cannot run inside a transaction
            ) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    print(f"mlflow-entrypoint: created database {name}", flush=True)
            return
        except psycopg.Error as exc:
            print(
                f"mlflow-entrypoint: waiting for the database ({type(exc).__name__}), attempt {attempt + 1}",
                flush=True,
            )
            time.sleep(5)
    sys.exit("mlflow-entrypoint: database unreachable")


def _auth_config(path: str) -> None:
    # No admin_password here: MLflow takes MLFLOW_AUTH_ADMIN_PASSWORD from the environment when
    # it creates the admin user and ships no default password.
    text = (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {_db_url(_env('MLFLOW_AUTH_DB_NAME', 'mlflow_auth'))}\n"
        f"admin_username = {_env('MLFLOW_AUTH_ADMIN_USERNAME')}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # A successful login is remembered for 60 s: without it every request hashes the
        # password (PBKDF2, heavy on 0.25 vCPU) and reads the user from the database. One
        # worker, so a password change through the API takes effect at once.
        "auth_cache_ttl_seconds = 60\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _allowed_hosts() -> str:
    # The entrypoint itself calls the server on the loopback address (pipeline user below).
    own = [f"127.0.0.1:{_port()}", f"localhost:{_port()}"]
    front = [h.strip() for h in os.environ.get("MLFLOW_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return ",".join(dict.fromkeys(front + own))


def _ensure_pipeline_user(server: subprocess.Popen[bytes]) -> None:
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
    url = f"http://127.0.0.1:{_port()}/api/2.0/mlflow/users/create"
    for _ in range(90):
        if server.poll() is not None:
            return
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL built here
                print("mlflow-entrypoint: pipeline user created", flush=True)
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 409):  # RESOURCE_ALREADY_EXISTS
                print("mlflow-entrypoint: pipeline user exists", flush=True)
                return
            if exc.code in (401, 403, 404):  # wrong admin password, or no auth API: retrying won't help
                break
            time.sleep(2)
        except (urllib.error.URLError, OSError):
            time.sleep(2)
    print("mlflow-entrypoint: could not create the pipeline user", file=sys.stderr, flush=True)


def main() -> None:
    _ensure_database(_env("MLFLOW_DB_NAME", "mlflow"))
    _ensure_database(_env("MLFLOW_AUTH_DB_NAME", "mlflow_auth"))
    config = os.path.join(tempfile.mkdtemp(prefix="mlflow-auth-"), "basic_auth.ini")
    _auth_config(config)
    env = {k: v for k, v in os.environ.items() if k not in _ENTRYPOINT_ONLY}
    env["MLFLOW_AUTH_CONFIG_PATH"] = config
    # The rds_secret plugin (and its entry point) are found on this folder in every server process.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    # Close connections after each request so Aurora Serverless v2 can auto-pause at 0 ACU.
    env.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        # Inside the task every interface; the security group admits only the front door.
        os.environ.get("MLFLOW_BIND_HOST", "0.0.0.0"),  # noqa: S104
        "--port",
        str(_port()),
        "--backend-store-uri",
        _db_url(_env("MLFLOW_DB_NAME", "mlflow")),
        # Clients write and read artifacts in S3 themselves: no proxy, so no 10 MB / 30 s limit
        # of the front door on uploads, and no artifact bytes through this small task.
        "--no-serve-artifacts",
        "--default-artifact-root",
        _env("MLFLOW_DEFAULT_ARTIFACT_ROOT"),
        "--workers",
        os.environ.get("MLFLOW_WORKERS", "1"),
        "--allowed-hosts",
        _allowed_hosts(),
    ]
    server = subprocess.Popen(cmd, env=env)
    # ECS stops the task with SIGTERM to this process (PID 1): pass it on and exit with the server.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: server.send_signal(signum))
    try:
        _ensure_pipeline_user(server)
        sys.exit(server.wait())
    finally:
        if server.poll() is None:
            server.terminate()


if __name__ == "__main__":
    main()
