"""The state dir of a local stack: its layout, the options a stack starts with, and ``stack.json``.

``stack.json`` (a :class:`StackInfo`) is how the CLI side and the daemon meet: the daemon writes
it once everything is ready, ``status``/``down`` and the client read it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_pipeline.local.stack.errors import LocalStackError

STATE_FILE = "stack.json"
DAEMON_LOG = "daemon.log"
ERROR_FILE = "daemon-error.txt"
APPROVER = "U0APPROVER"
# Sub-folders of the state dir that belong to one stack's life; `up` starts from empty ones
# because the emulator's state (S3 artifacts, Lambda versions) lives in memory only.
STACK_FOLDERS = ("emulator", "mlflow", "git", "images", "logs", "work", "terraform", "placeholder-rootfs")
# The models a stack declares unless told otherwise: seed_code/'s mlops.toml [model] name.
DEFAULT_MODELS = ("delivery-time",)
# How prod moves to a new version (Terraform's `rollout` mode): `gradual` (terraform/live/local's
# default: 50 %, then 100 %, 10 s bakes; the demo drives traffic during the bake) or
# `all_at_once` (no bake: what the e2e tier uses, for speed).
ROLLOUT_CHOICES = ("gradual", "all_at_once")
NAME_PREFIX = "mlops"  # the harness' and terraform/live/local's name_prefix
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,63}")


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


def check_models(models: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The declared model names, deduplicated in order; LocalStackError for a name Terraform's
    ``models`` would refuse (pattern, or a default function name over 64 characters)."""
    names = tuple(dict.fromkeys(m.strip() for m in models))
    if not names:
        raise LocalStackError("declare at least one model (--model NAME)")
    for name in names:
        if not _MODEL_NAME.fullmatch(name):
            raise LocalStackError(f"model name {name!r} must be 1-63 letters, digits, '.', '_' or '-'")
        if len(function_name(name)) > 64:
            raise LocalStackError(
                f"model name {name!r} is too long: its function {function_name(name)} > 64 chars"
            )
    return names


def function_name(model: str) -> str:
    """A declared model's default inference function name (the same in stage and prod)."""
    return f"{NAME_PREFIX}-{model.replace('.', '-').replace('_', '-')}"


def check_rollout(rollout: str) -> str:
    """``rollout`` when it is one of :data:`ROLLOUT_CHOICES`; LocalStackError otherwise."""
    if rollout not in ROLLOUT_CHOICES:
        raise LocalStackError(f"rollout must be one of {', '.join(ROLLOUT_CHOICES)}, not {rollout!r}")
    return rollout


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
    # The declared models (Terraform's `models`): one inference function each in stage and prod.
    models: tuple[str, ...] = DEFAULT_MODELS
    rollout: str = "gradual"  # one of ROLLOUT_CHOICES

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
            "--rollout",
            self.rollout,
        ]
        for model in self.models:
            argv += ["--model", model]
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
    channel: str
    approvers: list[str]
    ports: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    # "local": the Slack stand-in (inbox); "slack": a real workspace (no inbox, no secrets here).
    slack_mode: str = "local"
    git_host: str = "codecommit"
    webhook_url: str = ""  # the gateway's POST /git/webhook (github/gitlab only)
    # Each declared model's inference function per environment: {model: {"stage": fn, "prod": fn}}.
    inference_functions: dict[str, dict[str, str]] = field(default_factory=dict)
    rollout: str = "all_at_once"  # how prod moves (StackOptions.rollout; older stack.json: at once)

    @property
    def models(self) -> list[str]:
        """The declared models, in the order `local up` declared them."""
        return list(self.inference_functions)

    def function_of(self, model: str, environment: str) -> str:
        """``model``'s inference function in ``environment``; LocalStackError when undeclared."""
        functions = self.inference_functions.get(model)
        if functions is None or environment not in functions:
            declared = ", ".join(self.inference_functions) or "none"
            raise LocalStackError(
                f"model {model!r} has no inference function in {environment} on this stack (declared: "
                f"{declared}); declare it: mlops-pipeline local up --model {model} (Terraform `models`)"
            )
        return functions[environment]

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
