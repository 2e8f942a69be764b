"""The state dir of a local stack: its layout, the options a stack starts with, and ``stack.json``.

``stack.json`` (a :class:`StackInfo`) is how the CLI side and the daemon meet: the daemon writes
it once everything is ready, ``status``/``down`` and the client read it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "stack.json"
DAEMON_LOG = "daemon.log"
ERROR_FILE = "daemon-error.txt"
APPROVER = "U0APPROVER"
# Sub-folders of the state dir that belong to one stack's life; `up` starts from empty ones
# because the emulator's state (S3 artifacts, Lambda versions) lives in memory only.
STACK_FOLDERS = ("emulator", "mlflow", "git", "images", "logs", "work", "terraform", "placeholder-rootfs")


def default_state_dir() -> Path:
    """``MLOPS_LOCAL_STATE`` or ``./.mlops-local``."""
    return Path(os.environ.get("MLOPS_LOCAL_STATE") or ".mlops-local").resolve()


def state_file(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / STATE_FILE


def clean_state(state_dir: Path) -> None:
    """Remove what a previous stack of ``state_dir`` left (its folders, log and error file)."""
    for name in STACK_FOLDERS:
        target = state_dir / name
        if target.is_dir():
            shutil.rmtree(target)
    for name in (ERROR_FILE, DAEMON_LOG):
        (state_dir / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class StackOptions:
    """What to start; ports 0 mean a free ephemeral port."""

    state_dir: Path
    emulator_port: int = 0
    mlflow_port: int = 0
    slack_port: int = 0
    gateway_port: int = 0
    terraform: bool = False
    approval_timeout_seconds: int = 1800
    approvers: tuple[str, ...] = (APPROVER,)
    git_host: str = "codecommit"  # codecommit (EventBridge rule) | github | gitlab (signed webhook)

    def ports(self) -> dict[str, int]:
        return {
            "emulator": self.emulator_port,
            "mlflow": self.mlflow_port,
            "slack": self.slack_port,
            "gateway": self.gateway_port,
        }

    def to_argv(self) -> list[str]:
        argv = [
            "--state-dir",
            str(self.state_dir),
            "--approval-timeout",
            str(self.approval_timeout_seconds),
            "--approvers",
            ",".join(self.approvers),
            "--git-host",
            self.git_host,
        ]
        for name, port in self.ports().items():
            argv += [f"--{name}-port", str(port)]
        if self.terraform:
            argv.append("--terraform")
        return argv


@dataclass
class StackInfo:
    """What ``stack.json`` holds: where everything runs and what was provisioned."""

    pid: int
    state_dir: str
    started_at: str
    provisioner: str
    endpoint_url: str
    region: str
    credentials: dict[str, dict[str, str]]
    mlflow_url: str
    mlflow_pid: int | None
    slack_inbox_url: str
    slack_api_url: str
    interactions_url: str
    git_remote_url: str
    repository_name: str
    branch: str
    state_machine_arn: str
    table: str
    inference_function: str
    channel: str
    approvers: list[str]
    ports: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    # "local": the Slack stand-in (inbox); "slack": a real workspace (no inbox, no secrets here).
    slack_mode: str = "local"
    git_host: str = "codecommit"
    webhook_url: str = ""  # the gateway's POST /git/webhook (github/gitlab only)

    @classmethod
    def load(cls, path: Path) -> StackInfo:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path) -> None:
        """Write atomically, owner-only (it holds the emulator's admin keys)."""
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh, indent=2)
        os.replace(tmp, path)

    def public(self) -> dict[str, Any]:
        """The info without credentials (for printing)."""
        data = asdict(self)
        data.pop("credentials")
        return data


def slack_location(info: StackInfo) -> str:
    """Where the run's Slack thread shows: the inbox URL, or the real channel's id."""
    return f"Slack channel {info.channel}" if info.slack_mode == "slack" else info.slack_inbox_url
