"""SQLAlchemy plugin ``rds_secret``: database credentials from the RDS-managed secret, per connection.

RDS rotates the master password it manages in Secrets Manager (every 7 days by default). A
password put into the SQLAlchemy URL at start would stop working at the first rotation, so the
URL carries none: ``postgresql+psycopg://host:5432/mlflow?plugin=rds_secret&sslmode=require``.
Loading the plugin hooks ``do_connect`` of the process's engines: every new connection to
``MLFLOW_DB_HOST`` that comes without a password gets the username and password of the secret
named by ``MLFLOW_DB_SECRET_ARN`` (JSON with ``username`` and ``password``, as RDS writes it).
The secret is cached for ``MLFLOW_DB_SECRET_CACHE_SECONDS`` (default 60). With ``NullPool``
every request opens a new connection, so requests after a rotation use the new password: when
a connection fails, the secret is read again at once (``AWSCURRENT``, then ``AWSPENDING``,
which holds the new password while a rotation is between setting it in the database and
promoting it) and the connection is retried once with credentials that differ from the ones
that failed.

The plugin is found through the ``sqlalchemy.plugins`` entry point of the ``*.dist-info`` next
to this file (the entrypoint puts this folder on ``PYTHONPATH`` of the server), so every process
of ``mlflow server`` loads it, whichever engine MLflow builds first. Secrets Manager is reached
with boto3 in the secret's own region; ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` points it elsewhere
(boto3 reads it natively; the contract tests use it for moto). Nothing secret is printed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SECRET_ARN_ENV = "MLFLOW_DB_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
HOST_ENV = "MLFLOW_DB_HOST"
CACHE_SECONDS_ENV = "MLFLOW_DB_SECRET_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def _log(message: str) -> None:
    print(f"rds-secret: {message}", file=sys.stderr, flush=True)


class SecretReader:
    """Reads ``{username, password}`` from one secret, with a short cache."""

    def __init__(
        self,
        secret_arn: str,
        ttl_seconds: float = DEFAULT_CACHE_SECONDS,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret_arn:
            raise RuntimeError(f"{SECRET_ARN_ENV} is not set: the database credentials secret is unknown")
        self.secret_arn = secret_arn
        self.ttl_seconds = ttl_seconds
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._version: str | None = None
        self._read_at = 0.0

    def current(self) -> Credentials:
        """The cached credentials, read again once they are older than the TTL."""
        with self._lock:
            if self._cached is None or self._clock() - self._read_at >= self.ttl_seconds:
                self._cached = self._read("AWSCURRENT")
                self._read_at = self._clock()
            return self._cached

    def fresh(self) -> list[Credentials]:
        """Credentials to retry with after a failed connection: AWSCURRENT now, then AWSPENDING."""
        with self._lock:
            current = self._read("AWSCURRENT")
            self._cached, self._read_at = current, self._clock()
            candidates = [current]
            pending = self._read_pending()
            if pending is not None and pending != current:
                candidates.append(pending)
            return candidates

    def _read(self, stage: str) -> Credentials:
        client = self._client or self._make_client()
        response = client.get_secret_value(SecretId=self.secret_arn, VersionStage=stage)
        data = json.loads(response["SecretString"])
        if stage == "AWSCURRENT" and response.get("VersionId") != self._version:
            if self._version is not None:
                _log(f"database secret has a new version ({response.get('VersionId')})")
            self._version = response.get("VersionId")
        return Credentials(str(data["username"]), str(data["password"]))

    def _read_pending(self) -> Credentials | None:
        """AWSPENDING exists only while a rotation runs."""
        client = self._client or self._make_client()
        try:
            return self._read("AWSPENDING")
        except client.exceptions.ResourceNotFoundException:
            return None

    def _make_client(self) -> Any:
        import boto3

        # arn:aws:secretsmanager:<region>:<account>:secret:<name>: the secret's own region.
        parts = self.secret_arn.split(":")
        region = parts[3] if len(parts) > 3 and parts[3] else None
        self._client = boto3.client("secretsmanager", region_name=region)
        return self._client


_readers: dict[str, SecretReader] = {}
_readers_lock = threading.Lock()


def reader_from_environment(environ: dict[str, str] | None = None) -> SecretReader:
    """One shared reader per secret and process (the tracking and the auth store share its cache)."""
    env = os.environ if environ is None else environ
    arn = env.get(SECRET_ARN_ENV, "")
    ttl = float(env.get(CACHE_SECONDS_ENV) or DEFAULT_CACHE_SECONDS)
    with _readers_lock:
        if arn not in _readers:
            _readers[arn] = SecretReader(arn, ttl)
        return _readers[arn]


def connect(dialect: Any, cargs: tuple[Any, ...], cparams: dict[str, Any], reader: SecretReader) -> Any:
    """Open a DBAPI connection with the secret's credentials; retry once after a fresh read."""
    tried = reader.current()
    try:
        return dialect.connect(*cargs, **{**cparams, "user": tried.username, "password": tried.password})
    except dialect.loaded_dbapi.OperationalError as first_error:
        for candidate in reader.fresh():
            if candidate == tried:
                continue
            _log("connection failed; retrying with the credentials just read from the secret")
            try:
                return dialect.connect(
                    *cargs, **{**cparams, "user": candidate.username, "password": candidate.password}
                )
            except dialect.loaded_dbapi.OperationalError:
                continue
        raise first_error


try:
    from sqlalchemy import event
    from sqlalchemy.engine import CreateEnginePlugin, Engine
except ImportError:  # pragma: no cover - the entrypoint imports the reader alone as well
    CreateEnginePlugin = object  # type: ignore[assignment,misc]

_installed = False
_install_lock = threading.Lock()


def _for_us(dialect: Any, cparams: dict[str, Any]) -> bool:
    """A connection to MLflow's database that carries no password of its own."""
    return (
        dialect.name == "postgresql"
        and not cparams.get("password")
        and cparams.get("host") == os.environ.get(HOST_ENV)
    )


def install() -> None:
    """Hook ``do_connect`` of every engine in this process, once.

    Per engine would not do: MLflow's auth-store migration builds a second engine from
    ``engine.url`` as a string, which has lost the ``plugin`` parameter (SQLAlchemy takes it
    out). So the hook sits on all engines and fills in only connections to the MLflow
    database host that come without a password.
    """
    global _installed
    with _install_lock:
        if _installed:
            return

        @event.listens_for(Engine, "do_connect")
        def _do_connect(dialect: Any, conn_rec: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
            if not _for_us(dialect, cparams):
                return None
            return connect(dialect, cargs, cparams, reader_from_environment())

        _installed = True


class RdsSecretPlugin(CreateEnginePlugin):
    """``?plugin=rds_secret``: loads this module into the process and installs the hook."""

    def __init__(self, url: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        reader_from_environment()  # fail at engine creation, not at the first request, without the ARN
        install()

    def update_url(self, url: Any) -> Any:
        # SQLAlchemy has already taken ``plugin`` out of the query; nothing else is ours.
        return url
