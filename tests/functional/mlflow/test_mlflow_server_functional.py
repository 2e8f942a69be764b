"""MlflowServer process handling: start failures carry the log tail, a taken port is retried, stop kills all.

The real ``mlflow server`` is used for the failure modes that MLflow itself produces; the port
retry and the SIGKILL escalation use a tiny stand-in server process (same spawn, health check
and process-group handling) because they need to steer what the process does.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlops_pipeline.local.stack import mlflow_server as mlflow_server_module
from mlops_pipeline.local.stack.mlflow_server import MlflowServer, MlflowServerError, free_port

pytestmark = pytest.mark.functional

# Serves GET /health on 127.0.0.1:<port> and keeps a child process (like uvicorn's worker);
# a taken port makes it exit 1 with the OS error, like uvicorn does.
STAND_IN = """
import http.server, signal, subprocess, sys
port, ignore_term = int(sys.argv[1]), sys.argv[2] == "ignore-term"
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; {}; time.sleep(600)".format(
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if ignore_term else "pass")])

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass

try:
    server = http.server.HTTPServer(("127.0.0.1", port), Health)
except OSError as exc:
    print(f"ERROR: {exc}", flush=True)
    child.kill()
    sys.exit(1)
print(f"serving on {port}", flush=True)
server.serve_forever()
"""


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN, encoding="utf-8")

    def use(mode: str = "normal") -> None:
        monkeypatch.setattr(
            MlflowServer, "_command", lambda self: [sys.executable, str(script), str(self.port), mode]
        )

    return use


def test_start_failure_of_mlflow_reports_the_log_tail(tmp_path: Path, process_group_exists) -> None:
    server = MlflowServer(tmp_path / "mlflow", backend_store_uri="notadb://nowhere")

    with pytest.raises(MlflowServerError) as failure:
        server.start(timeout=90)

    message = str(failure.value)
    assert "exited with code" in message
    assert str(server.log_path) in message
    assert "unsupported URI 'notadb://nowhere'" in message  # MLflow's own words, from the log
    assert server.pid is not None and not process_group_exists(server.pid)
    assert not server.running


def test_start_timeout_raises_and_kills_the_process(tmp_path: Path, process_group_exists) -> None:
    server = MlflowServer(tmp_path / "mlflow")

    with pytest.raises(MlflowServerError, match=r"did not answer .*/health within 0\.5 s"):
        server.start(timeout=0.5)

    assert server.pid is not None and not process_group_exists(server.pid)


def test_a_free_port_taken_in_between_is_retried_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int, stand_in, process_group_exists
) -> None:
    stand_in()
    second = free_port()
    ports = [taken_port, second]
    monkeypatch.setattr(mlflow_server_module, "free_port", lambda host="127.0.0.1": ports.pop(0))
    server = MlflowServer(tmp_path / "srv")

    with server:
        assert server.port == second
        assert server.url == f"http://127.0.0.1:{second}"
        log = server.log_path.read_text(encoding="utf-8")
        assert "address already in use" in log.lower()
        assert f"serving on {second}" in log
        pid = server.pid
        assert pid is not None and process_group_exists(pid)

    assert not process_group_exists(pid)  # the server and its child


def test_a_taken_explicit_port_fails_without_retry(tmp_path: Path, taken_port: int, stand_in) -> None:
    stand_in()
    server = MlflowServer(tmp_path / "srv", port=taken_port)

    with pytest.raises(MlflowServerError, match=r"(?i)address already in use"):
        server.start(timeout=30)

    attempts = [
        line for line in server.log_path.read_text(encoding="utf-8").splitlines() if line.startswith("--- ")
    ]
    assert len(attempts) == 1


def test_stop_escalates_to_sigkill_for_processes_ignoring_sigterm(
    tmp_path: Path, stand_in, process_group_exists
) -> None:
    stand_in("ignore-term")
    server = MlflowServer(tmp_path / "srv", stop_grace_seconds=0.5)
    server.start(timeout=30)
    pid = server.pid
    assert pid is not None

    server.stop()

    assert not process_group_exists(pid)
    assert not server.running


def test_restart_comes_back_on_the_same_port_after_a_stop(
    tmp_path: Path, stand_in, process_group_exists
) -> None:
    """An outage in the fault tier: stopped, then back at the URL the clients were given."""
    stand_in()
    server = MlflowServer(tmp_path / "srv")  # port=0: a free port is picked at the first start
    with server:
        url, first = server.url, server.pid
        assert first is not None
        server.stop()
        assert not server.running and not process_group_exists(first)

        server.restart(timeout=30)

        assert server.running and server.url == url
        assert server.pid != first
        assert mlflow_server_module._answers_ok(f"{url}/health")
        server.restart(timeout=30)  # also from running: stops the old process first
        assert server.url == url and mlflow_server_module._answers_ok(f"{url}/health")
