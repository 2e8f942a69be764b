"""A throwaway PostgreSQL server from this machine's binaries (Aurora PostgreSQL's stand-in).

``initdb`` + ``pg_ctl`` in a temporary folder, listening on a free 127.0.0.1 port with TLS (a
self-signed certificate: the task connects with ``sslmode=require``, as to Aurora) and
password authentication (scram-sha-256) for TCP clients, so a changed password really locks
out the old one. The test itself talks to it with ``psql`` as the superuser over the Unix socket, in the
``postgres`` database, which keeps its own queries out of the MLflow databases' statistics.
``pg_stat_statements`` is preloaded when the server has it (Debian: part of postgresql-15).
PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import datetime
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """``PG_BIN`` or the newest /usr/lib/postgresql/<major>/bin holding initdb."""
    explicit = os.environ.get("PG_BIN")
    candidates = [explicit] if explicit else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresUnavailableError(
        "no PostgreSQL server (initdb, pg_ctl) found in PG_BIN or /usr/lib/postgresql/*/bin; "
        "`make setup` installs it with apt (as root), or: apt-get install postgresql"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(directory / "server.key", 0o600)


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.host = "127.0.0.1"
        # Not under pytest's tmp (mode 0700, owned by root): the server user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-contract-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "postgres.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        self.superuser = self._user or pwd.getpwuid(os.geteuid()).pw_name
        self.pg_stat_statements = (bindir.parent / "lib" / "pg_stat_statements.so").is_file()

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, text=True, user=self._user)

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir(parents=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.superuser,
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        _self_signed(self.data)
        if self._user:
            entry = pwd.getpwnam(self._user)
            for name in ("server.crt", "server.key"):
                os.chown(self.data / name, entry.pw_uid, entry.pw_gid)
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "ssl = on",
            "fsync = off",
            "max_connections = 50",
            "log_connections = on",
            # The server's own maintenance would show as transactions in the MLflow databases
            # (the idle check counts them when pg_stat_statements is missing).
            "autovacuum = off",
        ]
        if self.pg_stat_statements:
            settings += ["shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all"]
        with open(self.data / "postgresql.conf", "a") as handle:
            handle.write("\n".join(settings) + "\n")
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
        )
        if self.pg_stat_statements:
            self.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                user=self._user,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, dbname: str = "postgres") -> list[list[str]]:
        """Rows of ``sql`` run by the superuser through ``psql`` (Unix socket, autocommit)."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.superuser, "-d", dbname, "-c", sql,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def can_login(self, user: str, password: str, dbname: str) -> bool:
        """Whether ``user`` gets in over TCP with ``password`` (TLS, as the task connects)."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-w",
                "-h", self.host, "-p", str(self.port), "-U", user, "-d", dbname, "-c", "SELECT 1",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PGPASSWORD": password, "PGSSLMODE": "require"},
        )  # fmt: skip
        return result.returncode == 0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""
