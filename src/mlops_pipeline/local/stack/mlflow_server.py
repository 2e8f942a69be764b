"""A real ``mlflow server`` process for local mode and the functional tests.

The server keeps its state in one folder: ``mlflow.db`` (SQLite backend and registry),
``artifacts/`` (proxied artifact store, unless an ``s3://`` destination is given, e.g. the
emulator's bucket), ``mlflow.log`` (stdout and stderr of the server) and, with
``app_name="basic-auth"``, ``basic_auth.ini`` + ``basic_auth.db`` for MLflow's own
authentication. It binds a loopback address on a free port and runs in its own process
group so that :meth:`MlflowServer.stop` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from mlops_pipeline.local.stack.errors import MlflowServerError
from mlops_pipeline.local.stack.processes import group_alive
from mlops_pipeline.ports import Clock, SystemClock

BASIC_AUTH = "basic-auth"
ADMIN_USERNAME = "admin"
_LOG_TAIL_CHARS = 4000
_POLL_SECONDS = 0.25
# MLflow's auth REST route (mlflow.server.auth.routes.CREATE_USER); importing that module would
# load the whole server app into the caller.
_CREATE_USER_PATH = "/api/2.0/mlflow/users/create"
_ADDRESS_IN_USE_MARKERS = ("address already in use", "errno 98", "only one usage of each socket address")


@dataclass(frozen=True)
class MlflowCredentials:
    """A basic-auth user of the MLflow server (the password never shows in ``repr``)."""

    username: str
    password: str = field(repr=False)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now (the OS picks an ephemeral one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MlflowServer:
    """Start, wait for, and stop one ``mlflow server`` process (uvicorn, one worker).

    ``port=0`` picks a free port (and retries once with another one if it was taken in
    between); an explicit port is used as given. ``env`` is added to the server's
    environment, e.g. ``MLFLOW_S3_ENDPOINT_URL`` and AWS credentials for an ``s3://``
    artifact destination. ``app_name="basic-auth"`` turns on MLflow authentication with a
    generated admin password (see :attr:`admin_credentials`). ``clock`` measures the start
    timeout; ``backend_store_uri`` replaces the SQLite file in ``root``.
    """

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        artifacts_destination: str | None = None,
        env: Mapping[str, str] | None = None,
        app_name: str | None = None,
        clock: Clock | None = None,
        stop_grace_seconds: float = 10.0,
        backend_store_uri: str | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise MlflowServerError(f"the local MLflow server binds a loopback address only, not {host!r}")
        if not 0 <= port <= 65535:
            raise MlflowServerError(f"port out of range: {port}")
        if app_name not in (None, BASIC_AUTH):
            raise MlflowServerError(f"unsupported app_name {app_name!r}; use None or {BASIC_AUTH!r}")
        self.root = Path(root).resolve()
        self.host = host
        self._requested_port = port
        self._port = port
        self.artifacts_destination = artifacts_destination or str(self.root / "artifacts")
        self._extra_env = dict(env or {})
        self.app_name = app_name
        self._backend_store_uri = backend_store_uri
        self._clock = clock or SystemClock()
        self._stop_grace_seconds = stop_grace_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = True
        self._log_file: IO[bytes] | None = None
        self._admin: MlflowCredentials | None = None
        self.startup_seconds: float | None = None

    # -- properties ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        """PID of the last started ``mlflow server`` process (its process group id); None before start."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.root / "mlflow.log"

    @property
    def backend_store_uri(self) -> str:
        """``sqlite:///<root>/mlflow.db`` unless another backend was given."""
        return self._backend_store_uri or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def auth_config_path(self) -> Path:
        return self.root / "basic_auth.ini"

    @property
    def admin_credentials(self) -> MlflowCredentials:
        """The basic-auth admin (only with ``app_name="basic-auth"``, after :meth:`start`)."""
        if self._admin is None:
            raise MlflowServerError("no admin credentials: the server was not started with basic-auth")
        return self._admin

    @property
    def running(self) -> bool:
        return self._proc is not None and not self._stopped and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> MlflowServer:
        """Start the server and wait until ``GET /health`` answers; MlflowServerError otherwise."""
        if not self._stopped:
            raise MlflowServerError("the MLflow server is already started")
        self.root.mkdir(parents=True, exist_ok=True)
        env = self._server_env()
        began = time.monotonic()
        attempts = 2 if self._requested_port == 0 else 1
        for attempt in range(attempts):
            if self._requested_port == 0:
                self._port = free_port(self.host)
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(env)
            try:
                self._wait_healthy(timeout)
            except MlflowServerError:
                self.stop()
                last = attempt == attempts - 1
                if last or not self._port_was_taken(offset):
                    raise
                continue
            except BaseException:
                # Interrupted while waiting (e.g. Ctrl-C): leave no server behind.
                self.stop()
                raise
            self.startup_seconds = time.monotonic() - began
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Terminate the whole process group: SIGTERM, then SIGKILL after the grace period."""
        proc = self._proc
        if proc is not None and not self._stopped:
            self._stopped = True
            pgid = proc.pid  # start_new_session=True: the server leads its own group
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self._stop_grace_seconds
            while time.monotonic() < deadline and (proc.poll() is None or group_alive(pgid)):
                time.sleep(0.05)
            if proc.poll() is None or group_alive(pgid):
                _signal_group(pgid, signal.SIGKILL)
                proc.wait(timeout=10)
                # Orphaned workers are reparented and reaped by init; wait for that briefly.
                kill_deadline = time.monotonic() + 5
                while group_alive(pgid) and time.monotonic() < kill_deadline:
                    time.sleep(0.05)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self, timeout: float = 60) -> MlflowServer:
        """Stop the server if it runs, then start it again on the same port and backend store.

        Clients keep the URL they were given (an outage ends, as when the task comes back).
        """
        self.stop()
        requested = self._requested_port
        self._requested_port = self._port  # port=0 would pick a new port, and the URL would change
        try:
            return self.start(timeout)
        finally:
            self._requested_port = requested

    def __enter__(self) -> MlflowServer:
        if self._stopped:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- administration (basic-auth) ---------------------------------------------------

    def create_user(self, username: str, password: str) -> MlflowCredentials:
        """Create a basic-auth user through MLflow's auth REST API, as the admin."""
        # Imported lazily: the REST helpers pull in a good part of mlflow.
        from mlflow.exceptions import MlflowException
        from mlflow.utils.rest_utils import MlflowHostCreds, http_request, verify_rest_response

        admin = self.admin_credentials
        if not username or not password:
            raise MlflowServerError("username and password must not be empty")
        creds = MlflowHostCreds(self.url, username=admin.username, password=admin.password)
        try:
            response = http_request(
                creds,
                _CREATE_USER_PATH,
                "POST",
                json={"username": username, "password": password},
                max_retries=0,
            )
            verify_rest_response(response, _CREATE_USER_PATH)
        except MlflowException as exc:
            raise MlflowServerError(f"creating MLflow user {username!r} failed: {exc.message}") from exc
        return MlflowCredentials(username, password)

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The end of the server log (for error messages)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[-chars:].decode("utf-8", errors="replace")

    # -- internals ------------------------------------------------------------------------

    def _server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Job execution spawns a huey consumer the pipeline does not need: fewer processes,
        # faster start. A caller can still turn it on through ``env``.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        # The server process must not inherit client-side settings of the caller.
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(name, None)
        env.update(self._extra_env)
        if self.app_name == BASIC_AUTH:
            env.update(self._prepare_basic_auth())
        return env

    def _prepare_basic_auth(self) -> dict[str, str]:
        if self._admin is None:
            self._admin = MlflowCredentials(ADMIN_USERNAME, secrets.token_urlsafe(24))
        auth_db = f"sqlite:///{self.root / 'basic_auth.db'}"
        text = (
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {auth_db}\n"
            f"admin_username = {self._admin.username}\n"
            f"admin_password = {self._admin.password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # One worker: MLflow invalidates the cache on every password/user change it serves,
            # so caching successful checks only saves the PBKDF2 hash per request.
            "auth_cache_ttl_seconds = 60\n"
        )
        # Written owner-only: the file holds the admin password.
        fd = os.open(self.auth_config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(self.auth_config_path, 0o600)
        secret_key_path = self.root / "flask_secret_key"
        if not secret_key_path.exists():
            fd = os.open(secret_key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(32))
        return {
            "MLFLOW_AUTH_CONFIG_PATH": str(self.auth_config_path),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secret_key_path.read_text(encoding="utf-8"),
        }

    def _command(self) -> list[str]:
        hosts = ",".join(
            f"{name}:{self._port}" for name in dict.fromkeys([self.host, "127.0.0.1", "localhost"])
        )
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_store_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            self.artifacts_destination,
            "--host",
            self.host,
            "--port",
            str(self._port),
            "--workers",
            "1",
            # Only this address is a valid Host header (DNS rebinding protection stays on).
            "--allowed-hosts",
            hosts,
        ]
        if self.app_name is not None:
            command += ["--app-name", self.app_name]
        return command

    def _spawn(self, env: Mapping[str, str]) -> None:
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(f"--- {' '.join(self._command()[1:])}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            self._command(),
            cwd=self.root,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._stopped = False

    def _wait_healthy(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = self._clock.now().timestamp() + timeout
        health = f"{self.url}/health"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MlflowServerError(
                    f"mlflow server exited with code {code} before it was ready; "
                    f"end of {self.log_path}:\n{self.log_tail()}"
                )
            if _answers_ok(health):
                return
            if self._clock.now().timestamp() >= deadline:
                raise MlflowServerError(
                    f"mlflow server did not answer {health} within {timeout:g} s; "
                    f"end of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def _port_was_taken(self, offset: int) -> bool:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace").lower()
        except FileNotFoundError:
            return False
        return any(marker in text for marker in _ADDRESS_IN_USE_MARKERS)


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http URL we built
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
