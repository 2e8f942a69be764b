"""The local stack: the emulator, MLflow, Slack, the git remote and the provisioned pipeline.

Two halves:

* :class:`LocalStack` runs *inside* the background process (``mlops_pipeline.local.stack.daemon``):
  moto serves in-process, so whoever hosts the emulator must stay alive. It starts every
  server on 127.0.0.1, provisions the pipeline (boto3 harness, or ``terraform apply`` of
  ``terraform/live/local``) and describes the result as a :class:`StackInfo`.
* :func:`up`, :func:`down`, :func:`status` run in the CLI (or a test): they start the
  background process detached, wait for it to report ready, read ``<state dir>/stack.json``,
  and stop it again leaving nothing running.

:class:`StackClient` talks to a running stack from any process (boto3 clients per account,
the Slack inbox, clicks, run records).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import mlops_pipeline
from mlops_pipeline.domain.errors import PipelineError
from mlops_pipeline.local.stack.processes import group_alive

log = logging.getLogger(__name__)

STATE_FILE = "stack.json"
DAEMON_LOG = "daemon.log"
ERROR_FILE = "daemon-error.txt"
HOST = "127.0.0.1"
REPOSITORY_NAME = "mlops-models"
BRANCH = "main"
ARTIFACT_BUCKET = "mlops-mlflow-artifacts"
APPROVER = "U0APPROVER"
DEFAULT_CHANNEL = "C0PIPELINE"
# Sub-folders of the state dir that belong to one stack's life; `up` starts from empty ones
# because the emulator's state (S3 artifacts, Lambda versions) lives in memory only.
_STACK_FOLDERS = ("emulator", "mlflow", "git", "images", "logs", "work", "terraform", "placeholder-rootfs")
# Used when the repository's buildspec.yml is not next to the package (non-editable install).
LOCAL_BUILDSPEC = """version: 0.2
env:
  shell: bash
  exported-variables: [MODEL_NAME, MODEL_VERSION, IMAGE_URI, RUN_ID]
phases:
  build:
    commands:
      - mlops-pipeline build --source "$CODEBUILD_SRC_DIR" --exports-file "$CODEBUILD_SRC_DIR/.mlops-build.env"
      - set -a && . "$CODEBUILD_SRC_DIR/.mlops-build.env" && set +a
"""


class LocalStackError(PipelineError):
    """The local stack cannot be started, reached or stopped."""


class StackRunningError(LocalStackError):
    """A local stack is already running from this state dir."""


class PortTakenError(LocalStackError):
    """A requested port is already in use."""


class TerraformMissingError(LocalStackError):
    """``--terraform`` was asked for but no terraform binary is available."""


class SlackConfigError(LocalStackError):
    """The real-Slack variables are set only in part, or malformed."""


# The real-Slack mode: all three set -> the pipeline talks to this Slack workspace.
SLACK_ENV = ("MLOPS_SLACK_BOT_TOKEN", "MLOPS_SLACK_SIGNING_SECRET", "MLOPS_SLACK_CHANNEL")
SLACK_API_URL_ENV = "MLOPS_SLACK_API_URL"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackConfig:
    """A real Slack app's credentials and channel (from the environment, never from files)."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    channel: str
    api_url: str = DEFAULT_SLACK_API_URL


def slack_config_from_env(env: Mapping[str, str] | None = None) -> SlackConfig | None:
    """The real-Slack configuration, None when none of its variables is set.

    SlackConfigError when only some are set or a value is malformed, so that ``local up``
    refuses before anything starts rather than half-configuring Slack.
    """
    env = os.environ if env is None else env
    values = {name: env.get(name, "").strip() for name in SLACK_ENV}
    given = [name for name, value in values.items() if value]
    if not given:
        return None
    missing = [name for name in SLACK_ENV if not values[name]]
    if missing:
        raise SlackConfigError(
            f"real Slack needs {', '.join(SLACK_ENV)} together; missing: {', '.join(missing)} "
            "(unset them all to use the local Slack stand-in)"
        )
    token, channel = values["MLOPS_SLACK_BOT_TOKEN"], values["MLOPS_SLACK_CHANNEL"]
    if not token.startswith("xoxb-"):
        raise SlackConfigError("MLOPS_SLACK_BOT_TOKEN must be a bot token (xoxb-...)")
    if not channel.isalnum() or not channel[:1].isupper():
        raise SlackConfigError(f"MLOPS_SLACK_CHANNEL must be a channel id such as C0123ABCD, not {channel!r}")
    api_url = env.get(SLACK_API_URL_ENV, "").strip() or DEFAULT_SLACK_API_URL
    if not api_url.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):
        raise SlackConfigError(f"{SLACK_API_URL_ENV} must be https:// (or a loopback http:// URL)")
    if not api_url.endswith("/"):
        api_url += "/"
    return SlackConfig(token, values["MLOPS_SLACK_SIGNING_SECRET"], channel, api_url)


# --------------------------------------------------------------------------- options and info


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


# --------------------------------------------------------------------------- the in-process stack


def default_state_dir() -> Path:
    """``MLOPS_LOCAL_STATE`` or ``./.mlops-local``."""
    return Path(os.environ.get("MLOPS_LOCAL_STATE") or ".mlops-local").resolve()


def repository_root() -> Path | None:
    """The source checkout this package runs from (None for a non-editable install)."""
    root = Path(mlops_pipeline.__file__).resolve().parents[2]
    return root if (root / "statemachine").is_dir() and (root / "pyproject.toml").is_file() else None


def buildspec_text() -> str:
    """The pipeline's own buildspec.yml (the one AWS uses), else the local-only fallback."""
    root = repository_root()
    if root is not None and (root / "buildspec.yml").is_file():
        return (root / "buildspec.yml").read_text(encoding="utf-8")
    return LOCAL_BUILDSPEC


class LocalStack:
    """Everything of local mode in this process; ``start()`` then ``stop()`` (or ``with``)."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state_dir = Path(options.state_dir).resolve()
        self._exit = ExitStack()
        self.info: StackInfo | None = None
        self.emulator: Any = None
        self.slack: Any = None
        self.mlflow: Any = None
        self.pipeline: Any = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> StackInfo:
        """Start the servers and provision the pipeline; the :class:`StackInfo` describing them."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackInfo:
        from mlops_pipeline.local.emulator.emulator import Emulator
        from mlops_pipeline.local.stack.interactions_gateway import InteractionsGateway, lambda_invoker
        from mlops_pipeline.local.stack.mlflow_server import MlflowServer
        from mlops_pipeline.local.stack.slack_standin import LocalSlackServer

        began = time.monotonic()
        timings: dict[str, float] = {}
        options = self.options
        slack_config = slack_config_from_env()
        for name, port in options.ports().items():
            if slack_config is not None and name == "slack":
                continue  # no stand-in to bind
            ensure_port_free(name, port)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Everything the emulator runs (builds, functions, the git hook) finds its files here,
        # and the build finds `mlops-pipeline` next to this interpreter.
        os.environ["MLOPS_LOCAL_STATE"] = str(self.state_dir)
        bin_dir = str(Path(sys.executable).parent)
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

        step = time.monotonic()
        emu = Emulator(self.state_dir, host=HOST, port=options.emulator_port)
        self._exit.callback(emu.stop)
        emu.start()
        self.emulator = emu
        timings["emulator"] = time.monotonic() - step

        step = time.monotonic()
        emu.client("s3").create_bucket(Bucket=ARTIFACT_BUCKET)
        mlflow = MlflowServer(
            self.state_dir / "mlflow",
            host=HOST,
            port=options.mlflow_port,
            artifacts_destination=f"s3://{ARTIFACT_BUCKET}/mlflow",
            env={**emu.env("tooling"), "MLFLOW_S3_ENDPOINT_URL": emu.endpoint_url},
        )
        self._exit.callback(mlflow.stop)
        mlflow.start(timeout=120)
        self.mlflow = mlflow
        timings["mlflow"] = time.monotonic() - step

        slack: Any = None
        if slack_config is None:
            # Fresh per stack; stored only in Secrets Manager (and the Slack stand-in's memory).
            bot_token = f"xoxb-local-{secrets.token_hex(12)}"
            signing_secret = secrets.token_hex(32)
            slack = LocalSlackServer(bot_token, signing_secret, host=HOST, port=options.slack_port)
            self._exit.callback(slack.stop)
            slack.start()
            self.slack = slack
            slack_api_url, channel = slack.api_url, DEFAULT_CHANNEL
        else:
            # A real workspace: its secrets go only into the emulated Secrets Manager secret.
            bot_token, signing_secret = slack_config.bot_token, slack_config.signing_secret
            slack_api_url, channel = slack_config.api_url, slack_config.channel

        step = time.monotonic()
        secret_values = {"bot_token": bot_token, "signing_secret": signing_secret}
        if options.terraform:
            provisioned = self._provision_terraform(emu, mlflow.url, slack_api_url, secret_values, channel)
        else:
            provisioned = self._provision_harness(emu, mlflow.url, slack_api_url, secret_values, channel)
        remote = provisioned["remote"]
        timings["provision"] = time.monotonic() - step

        gateway = InteractionsGateway(
            lambda_invoker(emu.client("lambda"), provisioned["interactions_function"]),
            host=HOST,
            port=options.gateway_port,
        )
        self._exit.callback(gateway.stop)
        gateway.start()
        if slack is not None:
            slack.interactions_url = gateway.url
        timings["total"] = time.monotonic() - began

        self.info = StackInfo(
            pid=os.getpid(),
            state_dir=str(self.state_dir),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            provisioner="terraform" if options.terraform else "harness",
            endpoint_url=emu.endpoint_url,
            region=emu.region,
            credentials={name: emu.credentials(name) for name in ("tooling", "stage", "prod")},
            mlflow_url=mlflow.url,
            mlflow_pid=mlflow.pid,
            slack_inbox_url=slack.url if slack is not None else "",
            slack_api_url=slack_api_url,
            interactions_url=gateway.url,
            git_remote_url=remote.url,
            repository_name=remote.repository_name,
            branch=remote.branch,
            state_machine_arn=provisioned["state_machine_arn"],
            table=provisioned["table"],
            inference_function=provisioned["inference_function"],
            channel=provisioned["channel"],
            approvers=list(options.approvers),
            ports={
                "emulator": emu.port,
                "mlflow": mlflow.port,
                **({"slack": slack.port} if slack is not None else {}),
                "gateway": gateway.port,
            },
            timings={k: round(v, 2) for k, v in timings.items()},
            slack_mode="local" if slack is not None else "slack",
        )
        return self.info

    def _provision_harness(
        self,
        emu: Any,
        mlflow_url: str,
        slack_api_url: str,
        secret: Mapping[str, str],
        channel: str = "C0PIPELINE",
    ) -> dict[str, Any]:
        from mlops_pipeline.local.stack.git_remote import LocalGitRemote
        from mlops_pipeline.local.stack.harness import PipelineStack, StackSettings

        emu.client("codecommit").create_repository(
            repositoryName=REPOSITORY_NAME, repositoryDescription="Model code (local git remote)"
        )
        remote = LocalGitRemote(self.state_dir / "git", REPOSITORY_NAME, BRANCH)
        remote.configure(emu.endpoint_url, emu.credentials("tooling"))
        settings = StackSettings(
            channel=channel,
            approvers=self.options.approvers,
            approval_timeout_seconds=self.options.approval_timeout_seconds,
            buildspec=buildspec_text(),
        )
        pipeline = PipelineStack(emu, mlflow_url, slack_api_url, remote.path, settings)
        pipeline.provision(secret)
        pipeline.add_push_trigger(remote.repository_name, remote.arn, remote.branch)
        self.pipeline = pipeline
        return {
            "remote": remote,
            "state_machine_arn": pipeline.state_machine_arn,
            "table": pipeline.table,
            "inference_function": pipeline.inference_function,
            "interactions_function": pipeline.function_name("slack_interactions"),
            "channel": settings.channel,
        }

    def _provision_terraform(
        self,
        emu: Any,
        mlflow_url: str,
        slack_api_url: str,
        secret: Mapping[str, str],
        channel: str = "C0PIPELINE",
    ) -> dict[str, Any]:
        """``terraform apply`` of terraform/live/local against the emulator (a copy, state in the state dir)."""
        from mlops_pipeline import packaging, tf
        from mlops_pipeline.local.emulator.image_store import ImageStore
        from mlops_pipeline.local.stack.git_remote import LocalGitRemote
        from mlops_pipeline.local.stack.harness import PLACEHOLDER_HANDLER

        root = repository_root()
        if root is None:
            raise LocalStackError(
                "--terraform needs the project's source checkout (terraform/, statemachine/)"
            )
        work = self.state_dir / "terraform"
        ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
        shutil.copytree(root / "terraform", work / "terraform", ignore=ignore, dirs_exist_ok=True)
        shutil.copytree(root / "statemachine", work / "statemachine", dirs_exist_ok=True)
        step = time.monotonic()
        dist = work / "dist"
        packaging.build_all(dist, "host")
        log.info("lambda packages built in %.1fs", time.monotonic() - step)
        # The inference functions start from a bootstrap image, as on AWS before any model exists.
        bootstrap = f"{emu.account_id('tooling')}.dkr.ecr.{emu.region}.amazonaws.com/mlops/serving:bootstrap"
        store = ImageStore(self.state_dir / "images")
        if not store.exists(bootstrap):
            staging = self.state_dir / "placeholder-rootfs"
            (staging / "var" / "task").mkdir(parents=True, exist_ok=True)
            (staging / "var" / "task" / "placeholder.py").write_text(PLACEHOLDER_HANDLER)
            store.push(bootstrap, staging, cmd=["placeholder.handler"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(emu.env("tooling"))
        env.pop("AWS_ENDPOINT_URL")  # the root passes the endpoint per service
        runner = tf.Terraform(work / "terraform" / tf.LOCAL_ROOT, data_dir=work / "data", env=env)
        variables = {
            "endpoint_url": emu.endpoint_url,
            "lambda_dist_dir": str(dist),
            "bootstrap_image_uri": bootstrap,
            "slack_api_url": slack_api_url,
            "slack_channel": channel,
            "approvers": json.dumps(list(self.options.approvers)),
            "approval_timeout_seconds": str(self.options.approval_timeout_seconds),
            "mlflow_tracking_uri": mlflow_url,
            "build_python": sys.executable,
            "local_state_dir": str(self.state_dir),
        }
        step = time.monotonic()
        runner.init()
        runner.apply(variables)
        outputs = runner.output()
        log.info("terraform apply of %s took %.1fs", tf.LOCAL_ROOT, time.monotonic() - step)
        # Terraform creates the secret without a value (secrets never go through its state).
        emu.client("secretsmanager").put_secret_value(
            SecretId=outputs["slack_secret_arn"], SecretString=json.dumps(dict(secret))
        )
        remote = LocalGitRemote(self.state_dir / "git", str(outputs["repository_name"]), BRANCH)
        remote.configure(emu.endpoint_url, emu.credentials("tooling"))
        return {
            "remote": remote,
            "state_machine_arn": str(outputs["state_machine_arn"]),
            "table": str(outputs["table_name"]),
            "inference_function": str(outputs["deploy_targets"]["stage"]["function_name"]),
            "interactions_function": str(outputs["function_names"]["slack_interactions"]),
            "channel": channel,
        }

    def stop(self) -> None:
        """Stop everything this stack started (idempotent)."""
        self._exit.close()


# --------------------------------------------------------------------------- client side


def state_file(state_dir: Path) -> Path:
    return Path(state_dir).resolve() / STATE_FILE


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


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def ensure_port_free(name: str, port: int, host: str = HOST) -> None:
    """PortTakenError naming the component when ``port`` (non-zero) cannot be bound."""
    if not port:
        return
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortTakenError(
                f"port {port} on {host} (for the {name}) is taken: {exc.strerror}; "
                f"free it or choose another with --{name}-port (0 picks a free one)"
            ) from exc


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


def _clean_state(state_dir: Path) -> None:
    for name in _STACK_FOLDERS:
        target = state_dir / name
        if target.is_dir():
            shutil.rmtree(target)
    for name in (ERROR_FILE, DAEMON_LOG):
        (state_dir / name).unlink(missing_ok=True)


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
    state_dir.mkdir(parents=True, exist_ok=True)
    _clean_state(state_dir)
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


# --------------------------------------------------------------------------- talking to a stack


class StackClient:
    """Clients for a running local stack, from any process."""

    def __init__(self, info: StackInfo) -> None:
        self.info = info

    def client(self, service: str, account: str = "tooling") -> Any:
        import boto3

        keys = self.info.credentials[account]
        return boto3.client(
            service,
            endpoint_url=self.info.endpoint_url,
            region_name=self.info.region,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def env(self, account: str = "tooling") -> dict[str, str]:
        """Variables for a subprocess acting in ``account`` against the emulator."""
        return {
            **self.info.credentials[account],
            "AWS_REGION": self.info.region,
            "AWS_DEFAULT_REGION": self.info.region,
            "AWS_ENDPOINT_URL": self.info.endpoint_url,
        }

    # -- Slack inbox
    def _http(self, url: str, data: bytes | None = None, timeout: float = 30.0) -> Any:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if not url.startswith("http://127.0.0.1:"):
            raise LocalStackError(f"refusing a non-loopback URL from the state file: {url}")
        method = "POST" if data else "GET"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            raise LocalStackError(f"{url} answered {exc.code}: {body[:500]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LocalStackError(f"{url} unreachable ({exc}); is the local stack running?") from exc

    @property
    def real_slack(self) -> bool:
        """True when the stack talks to a real Slack workspace (no inbox)."""
        return self.info.slack_mode == "slack"

    def inbox(self) -> dict[str, Any]:
        if self.real_slack:
            raise LocalStackError(f"no Slack inbox: this stack posts to Slack channel {self.info.channel}")
        return dict(self._http(f"{self.info.slack_inbox_url}_inbox/state"))

    def _slack_config(self) -> SlackConfig:
        config = slack_config_from_env()
        if config is None:
            raise LocalStackError(
                f"this stack uses real Slack: set {', '.join(SLACK_ENV)} in this shell too "
                "(the same values as for `local up`)"
            )
        return config

    def thread(self, thread_ts: str) -> list[dict[str, Any]]:
        """Root and replies of one Slack thread, oldest first (empty when unknown)."""
        if self.real_slack:
            from slack_sdk import WebClient
            from slack_sdk.errors import SlackApiError

            config = self._slack_config()
            web = WebClient(token=config.bot_token, base_url=self.info.slack_api_url)
            try:
                answer = web.conversations_replies(channel=self.info.channel, ts=thread_ts, limit=200)
            except SlackApiError as exc:
                if exc.response.get("error") == "thread_not_found":
                    return []
                raise LocalStackError(
                    f"Slack conversations.replies failed: {exc.response.get('error')}"
                ) from exc
            return [dict(m) for m in answer.get("messages") or []]
        for channel in self.inbox()["channels"]:
            for thread in channel["threads"]:
                if thread["root"]["ts"] == thread_ts:
                    return [thread["root"], *thread["replies"]]
        return []

    def click(self, message_ts: str, action: str, user: str = APPROVER) -> tuple[int, str]:
        """Click a card button in the inbox: it sends Slack's signed payload to the endpoint."""
        body = json.dumps({"message_ts": message_ts, "action_id": action, "user_id": user}).encode()
        answer = self._http(f"{self.info.slack_inbox_url}_inbox/click", data=body, timeout=120)
        return int(answer.get("status", 0)), str(answer.get("body", ""))

    # -- runs
    def runs(self) -> Any:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore

        return DynamoRunStore(self.info.table, client=self.client("dynamodb"))

    def pending_approval(self, execution: str) -> Any:
        """The pending :class:`Approval` of ``execution`` from DynamoDB (None when none)."""
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        run = self.runs().get(execution)
        if run is None:
            return None
        db = self.client("dynamodb")
        store = DynamoApprovalStore(self.info.table, client=db)
        if run.model:
            candidates = list(store.list_pending(run.model))
        else:  # the run record does not name its model yet: find the approval by its execution
            pages = db.get_paginator("scan").paginate(
                TableName=self.info.table,
                FilterExpression="sk = :sk AND #e = :e AND #s = :p",
                ExpressionAttributeNames={"#e": "execution", "#s": "status"},
                ExpressionAttributeValues={
                    ":sk": {"S": "APPROVAL"},
                    ":e": {"S": execution},
                    ":p": {"S": "PENDING"},
                },
            )
            ids = [item["id"]["S"] for page in pages for item in page.get("Items", [])]
            candidates = [a for a in (store.get(i) for i in ids) if a is not None]
        for approval in candidates:
            if approval.execution == execution and approval.status.value == "PENDING" and approval.slack_ts:
                return approval
        return None

    def approval_card(self, execution: str) -> dict[str, Any] | None:
        """The open approval card (a message with buttons) of ``execution``'s thread, if any."""
        if self.real_slack:
            # No inbox to read: the card as the pipeline recorded it (approval id = button value).
            approval = self.pending_approval(execution)
            if approval is None:
                return None
            buttons = [
                {"type": "button", "action_id": action, "value": approval.id}
                for action in ("approve", "reject")
            ]
            return {
                "ts": approval.slack_ts,
                "channel": approval.slack_channel or self.info.channel,
                "approval_id": approval.id,
                "blocks": [{"type": "actions", "block_id": "approval", "elements": buttons}],
            }
        run = self.runs().get(execution)
        if run is None or not run.slack_thread_ts:
            return None
        for message in reversed(self.thread(run.slack_thread_ts)):
            if card_buttons(message):
                return message
        return None

    def resolve_execution(self, ref: str) -> str:
        """An execution ARN from an ARN, an execution name, a commit prefix, or ``latest``."""
        if ref.startswith("arn:"):
            return ref
        sfn = self.client("stepfunctions")
        executions = sfn.list_executions(stateMachineArn=self.info.state_machine_arn, maxResults=100)[
            "executions"
        ]
        executions.sort(key=lambda e: e["startDate"], reverse=True)
        if ref == "latest" and executions:
            return str(executions[0]["executionArn"])
        for execution in executions:
            if execution["name"] == ref or execution["name"].startswith(ref):
                return str(execution["executionArn"])
        raise LocalStackError(f"no execution matches {ref!r} (give an ARN, a name or 'latest')")

    def decide(self, execution: str, action: str, user: str = APPROVER) -> tuple[int, str]:
        """Approve or reject the pending approval of ``execution`` through the signed endpoint."""
        if action not in ("approve", "reject"):
            raise LocalStackError(f"action must be approve or reject, not {action!r}")
        card = self.approval_card(execution)
        if card is None:
            raise LocalStackError(f"{execution} has no pending approval card")
        if self.real_slack:
            return self.send_interaction(card, action, user)
        return self.click(str(card["ts"]), action, user)

    def send_interaction(self, card: Mapping[str, Any], action: str, user: str) -> tuple[int, str]:
        """POST Slack's signed block_actions payload for ``card`` to the interactions gateway.

        Real Slack cannot reach a laptop, so this sends what Slack would, signed with the
        app's signing secret taken from the environment (never from the state file).
        """
        from mlops_pipeline.adapters.slack.signature import sign

        config = self._slack_config()
        body = block_actions_body(card, action, user, self.info.channel)
        headers = sign(body, config.signing_secret, int(time.time()))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = self.info.interactions_url
        if not url.startswith("http://127.0.0.1:"):
            raise LocalStackError(f"refusing a non-loopback URL from the state file: {url}")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise LocalStackError(f"{url} unreachable ({exc}); is the local stack running?") from exc


def block_actions_body(card: Mapping[str, Any], action: str, user: str, channel: str) -> bytes:
    """The ``payload=<JSON>`` form body of a click on ``card``'s ``action`` button (unsigned)."""
    if action not in ("approve", "reject"):
        raise LocalStackError(f"action must be approve or reject, not {action!r}")
    button = next((b for b in card_buttons(card) if b.get("action_id") == action), None)
    if button is None:
        raise LocalStackError(f"the card has no {action} button")
    channel_id = str(card.get("channel") or channel)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user},
        "container": {"type": "message", "message_ts": str(card["ts"]), "channel_id": channel_id},
        "channel": {"id": channel_id},
        "message": {"ts": str(card["ts"])},
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": "approval",
                "value": str(button.get("value", "")),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("utf-8")


def slack_location(info: StackInfo) -> str:
    """Where the run's Slack thread shows: the inbox URL, or the real channel's id."""
    return f"Slack channel {info.channel}" if info.slack_mode == "slack" else info.slack_inbox_url


def card_buttons(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The buttons of an inbox message (an approval card has approve/reject)."""
    buttons: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            buttons += [e for e in block.get("elements", []) if e.get("type") == "button"]
    return buttons


@contextlib.contextmanager
def running_stack(options: StackOptions, timeout: float = 300.0) -> Iterator[StackInfo]:
    """``up`` on enter, ``down`` on exit (for tests and one-shot demos)."""
    info = up(options, timeout=timeout)
    try:
        yield info
    finally:
        down(options.state_dir)


def ports_listening(ports: Sequence[int]) -> list[int]:
    return [p for p in ports if port_in_use(p)]
