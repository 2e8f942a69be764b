"""MlflowServer start failures: the error carries the log tail and no process is left behind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlops_pipeline.local.mlflow_server import MlflowServer, MlflowServerError

pytestmark = pytest.mark.functional


def test_start_failure_on_a_taken_port_raises_with_the_log_tail(tmp_path: Path, process_group_exists) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = MlflowServer(tmp_path / "mlflow", port=port)

        with pytest.raises(MlflowServerError) as failure:
            server.start(timeout=90)

    message = str(failure.value)
    assert "exited with code" in message
    assert str(server.log_path) in message
    assert "address already in use" in message.lower()
    assert server.pid is not None and not process_group_exists(server.pid)
    assert not server.running


def test_start_timeout_raises_and_kills_the_process(tmp_path: Path, process_group_exists) -> None:
    server = MlflowServer(tmp_path / "mlflow")

    with pytest.raises(MlflowServerError, match=r"did not answer .*/health within 0\.5 s"):
        server.start(timeout=0.5)

    assert server.pid is not None and not process_group_exists(server.pid)
