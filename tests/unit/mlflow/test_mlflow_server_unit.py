"""MlflowServer arguments that are refused before any process starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.local.stack.mlflow_server import (
    MlflowCredentials,
    MlflowServer,
    MlflowServerError,
    free_port,
)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])  # noqa: S104
def test_only_loopback_hosts_are_accepted(tmp_path: Path, host: str) -> None:
    with pytest.raises(MlflowServerError, match="loopback"):
        MlflowServer(tmp_path, host=host)
    assert list(tmp_path.iterdir()) == []


def test_unknown_app_name_and_bad_port_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MlflowServerError, match="app_name"):
        MlflowServer(tmp_path, app_name="oidc-auth")
    with pytest.raises(MlflowServerError, match="port"):
        MlflowServer(tmp_path, port=70000)


def test_paths_and_defaults_before_start(tmp_path: Path) -> None:
    server = MlflowServer(tmp_path / "m", port=5999)

    assert server.url == "http://127.0.0.1:5999"
    assert server.log_path == (tmp_path / "m" / "mlflow.log").resolve()
    assert server.backend_store_uri == f"sqlite:///{(tmp_path / 'm' / 'mlflow.db').resolve()}"
    assert server.artifacts_destination == str((tmp_path / "m" / "artifacts").resolve())
    assert server.pid is None and not server.running
    with pytest.raises(MlflowServerError, match="basic-auth"):
        server.admin_credentials  # noqa: B018 - the property raises
    server.stop()  # stopping a server that never started is a no-op


def test_credentials_repr_hides_the_password() -> None:
    creds = MlflowCredentials("admin", "very-secret-password")
    assert "very-secret-password" not in repr(creds)
    assert creds.password == "very-secret-password"


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
