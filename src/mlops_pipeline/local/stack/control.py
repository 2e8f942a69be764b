"""The CLI side of the local stack: ``up``, ``status`` and ``down`` of the background process.

``up`` checks what it can before anything starts (a stack already running, taken ports,
terraform, a partial real-Slack configuration), starts ``mlops_pipeline.local.stack.daemon``
detached and waits until it writes ``stack.json``; ``status`` reads that file (dropping a stale
one); ``down`` signals the daemon's process group and checks that no process or port is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.local.stack.errors import LocalStackError, StackRunningError, TerraformMissingError
from mlops_pipeline.local.stack.ports import ensure_port_free, port_in_use
from mlops_pipeline.local.stack.processes import group_alive
from mlops_pipeline.local.stack.slack_config import slack_config_from_env
from mlops_pipeline.local.stack.state import (
    DAEMON_LOG,
    ERROR_FILE,
    StackInfo,
    StackOptions,
    check_models,
    check_rollout,
    clean_state,
    state_file,
)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def status(state_dir: Path) -> StackInfo | None:
    """The running stack of ``state_dir`` (None when none runs; a stale state file is removed)."""
    path = state_file(state_dir)
    if not path.exists():
        return None
    try:
        info = StackInfo.load(path)
    except (OSError, ValueError, TypeError) as exc:
        raise LocalStackError(f"{path} is unreadable ({exc}); remove it if no stack runs") from exc
    if pid_alive(info.pid):
        return info
    path.unlink(missing_ok=True)
    return None


def up(options: StackOptions, timeout: float = 300.0, python: str | None = None) -> StackInfo:
    """Start the stack in a detached background process; its :class:`StackInfo` once ready.

    Clear errors, before anything starts, for: a stack already running from this state dir,
    a requested port that is taken, ``--terraform`` without terraform.
    """
    state_dir = Path(options.state_dir).resolve()
    running = status(state_dir)
    if running is not None:
        raise StackRunningError(
            f"a local stack is already running from {state_dir} (pid {running.pid}, "
            f"emulator {running.endpoint_url}); stop it with `mlops-pipeline local down`"
        )
    slack_config = slack_config_from_env()  # a partial configuration fails here, before anything starts
    for name, port in options.ports().items():
        if slack_config is not None and name == "slack":
            continue
        ensure_port_free(name, port)
    if options.terraform:
        from mlops_pipeline.tf import find_terraform

        if find_terraform() is None:
            raise TerraformMissingError(
                "terraform is not installed (not on PATH, TERRAFORM not set): install Terraform >= 1.6 "
                "or run `mlops-pipeline local up` without --terraform (boto3 provisioning)"
            )
    check_models(options.models)  # a name Terraform's `models` would refuse fails here
    check_rollout(options.rollout)
    state_dir.mkdir(parents=True, exist_ok=True)
    clean_state(state_dir)
    log_path = state_dir / DAEMON_LOG
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(  # our own interpreter and module
            [python or sys.executable, "-m", "mlops_pipeline.local.stack.daemon", *options.to_argv()],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; `down` signals its whole group
            cwd=state_dir,
        )
    deadline = time.monotonic() + timeout
    path = state_file(state_dir)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalStackError(_failure_message(state_dir, process.returncode))
            if path.exists():
                info = StackInfo.load(path)
                if info.pid == process.pid:
                    return info
            time.sleep(0.2)
    except KeyboardInterrupt:
        _terminate_group(process.pid, grace=90)  # interrupted `up`: leave nothing half-started
        raise
    # SIGTERM makes the daemon stop what it started (MLflow runs in its own session).
    _terminate_group(process.pid, grace=90)
    raise LocalStackError(f"the local stack did not become ready within {timeout:.0f}s; see {log_path}")


def _failure_message(state_dir: Path, returncode: int | None) -> str:
    error = state_dir / ERROR_FILE
    if error.exists():
        return error.read_text(encoding="utf-8").strip()
    tail = ""
    log_path = state_dir / DAEMON_LOG
    if log_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
    return f"the local stack exited during start-up (code {returncode}); log tail:\n{tail}"


@dataclass
class DownReport:
    stopped: bool
    pids: list[int]
    ports: list[int]
    leftovers: list[str]


def down(state_dir: Path, timeout: float = 60.0) -> DownReport:
    """Stop the stack of ``state_dir`` and check that none of its processes or ports remain."""
    state_dir = Path(state_dir).resolve()
    path = state_file(state_dir)
    if not path.exists():
        return DownReport(stopped=False, pids=[], ports=[], leftovers=[])
    info = StackInfo.load(path)
    pids = [p for p in (info.pid, info.mlflow_pid) if p]
    _terminate_group(info.pid, grace=timeout)
    if info.mlflow_pid:  # its own session: the daemon stops it; this is the safety net
        _terminate_group(info.mlflow_pid, grace=10)
    ports = sorted(set(info.ports.values()))
    leftovers = [f"pid {p}" for p in pids if pid_alive(p) or group_alive(p)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(port_in_use(p) for p in ports):
        time.sleep(0.2)
    leftovers += [f"port {p}" for p in ports if port_in_use(p)]
    path.unlink(missing_ok=True)
    return DownReport(stopped=True, pids=pids, ports=ports, leftovers=leftovers)


def _terminate_group(pid: int, grace: float) -> None:
    """SIGTERM the process (it tears down what it started), then SIGKILL its group if needed."""
    if not pid_alive(pid) and not group_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while time.monotonic() < kill_deadline and (pid_alive(pid) or group_alive(pid)):
            time.sleep(0.05)


@contextlib.contextmanager
def running_stack(options: StackOptions, timeout: float = 300.0) -> Iterator[StackInfo]:
    """``up`` on enter, ``down`` on exit (for tests and one-shot demos)."""
    info = up(options, timeout=timeout)
    try:
        yield info
    finally:
        down(options.state_dir)
