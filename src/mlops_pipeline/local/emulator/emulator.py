"""The embedded AWS emulator: moto's server in-process, three accounts, and our extensions.

    with Emulator(state_dir) as emu:
        lam = emu.client("lambda", account="stage")
        env = emu.env("tooling")          # for a subprocess (CLI, CodeBuild, terraform)

Accounts are selected by credentials, as on AWS: each account gets an ``emulator-admin``
IAM user whose access key moto maps to that account; ``assume_role`` works across
accounts. Before serving, the emulator applies every extension: the Lambda runtime
(deployed code in a subprocess), the moto fixes, IAM checks for untrusted roles, the Step
Functions interpreter's account fix, and the ``install()`` of each optional extension module
that exists (CodeBuild runtime, git remote, events, Terraform fixes).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.client import BaseClient
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from mlops_pipeline.local.emulator import (
    iam_enforcement,
    lambda_code,
    lambda_faults,
    lambda_runtime,
    moto_fixes,
)
from mlops_pipeline.local.emulator.errors import EmulatorError

log = logging.getLogger(__name__)

ACCOUNTS: dict[str, str] = {"tooling": "111111111111", "stage": "222222222222", "prod": "333333333333"}
ADMIN_USER = "emulator-admin"
# Extensions written elsewhere; each exposes an idempotent install() -> None.
OPTIONAL_EXTENSIONS = (
    "mlops_pipeline.local.emulator.codebuild",
    "mlops_pipeline.local.stack.git_remote",
    "mlops_pipeline.local.emulator.events",
    "mlops_pipeline.local.emulator.terraform_fixes",
)


def install_extensions(optional: Sequence[str] = OPTIONAL_EXTENSIONS) -> list[str]:
    """Apply every emulator extension (idempotent); the names of those applied.

    Optional modules that do not exist are skipped; one that exists but fails to import or
    install raises (a half-applied emulator fails later in confusing ways).
    """
    moto_fixes.install()
    moto_fixes.install_interpreter_clients()
    iam_enforcement.install()
    lambda_runtime.install()
    lambda_code.install()
    applied = ["moto_fixes", "interpreter_clients", "iam_enforcement", "lambda_runtime", "lambda_code"]
    for name in optional:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but one of its imports is missing: a real bug
                raise
            continue
        module.install()
        applied.append(name.rsplit(".", 1)[-1])
    return applied


# Functions an extension may expose to stop what it runs in the background (builds, workers).
SHUTDOWN_HOOKS = ("stop_all_builds", "shutdown")


def shutdown_extensions(optional: Sequence[str] = OPTIONAL_EXTENSIONS) -> None:
    """Call the shutdown hooks of the optional extensions that are loaded."""
    for name in optional:
        module = sys.modules.get(name)
        for hook in SHUTDOWN_HOOKS:
            function = getattr(module, hook, None)
            if callable(function):
                try:
                    function()
                except Exception:  # stopping must go on: the server still has to close
                    log.exception("%s.%s() failed", name, hook)


_active_lock = threading.Lock()
_active: Emulator | None = None


class Emulator:
    """moto's server in this process with the pipeline's accounts and extensions.

    moto's backends are process-global, so one emulator runs per process at a time; it
    starts from empty backends and resets them when it stops.
    """

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        optional_extensions: Sequence[str] = OPTIONAL_EXTENSIONS,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port
        self.region = region
        self._requested_port = port
        self.optional_extensions = tuple(optional_extensions)
        self.extensions: list[str] = []
        self._server: ThreadedMotoServer | None = None
        self._runtime: lambda_runtime.LambdaRuntime | None = None
        self._keys: dict[str, dict[str, str]] = {}
        self._saved_config: dict[str, Any] = {}
        self._saved_moto_port: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise EmulatorError("the emulator is not running (call start())")
        return f"http://{self.host}:{self.port}"

    @property
    def lambda_faults(self) -> lambda_faults.LambdaFaults:
        """The Lambda runtime's fault switch (fault-injection tests)."""
        if self._runtime is None:
            raise EmulatorError("the emulator is not running (call start())")
        return self._runtime.faults

    def start(self) -> Emulator:
        """Apply the extensions, serve, create the accounts' admin users."""
        global _active
        with _active_lock:
            if _active is not None:
                raise EmulatorError(f"another emulator is running in this process at {_active.endpoint_url}")
            _active = self
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.extensions = install_extensions(self.optional_extensions)
            _reset_moto()
            self._saved_config = {
                "stepfunctions": default_user_config.get("stepfunctions"),
                "lambda": default_user_config.get("lambda"),
            }
            default_user_config["stepfunctions"] = {"execute_state_machine": True}
            default_user_config["lambda"] = {"use_docker": True}  # not moto's no-op backend
            werkzeug_log = logging.getLogger("werkzeug")
            if werkzeug_log.level == logging.NOTSET:
                werkzeug_log.setLevel(logging.WARNING)  # one access-log line per AWS call is noise
            if self._requested_port:
                _ensure_free(self.host, self._requested_port)  # moto's start() would wait forever
            server = ThreadedMotoServer(ip_address=self.host, port=self._requested_port, verbose=False)
            server.start()
            self._server = server
            self.port = server.get_host_and_port()[1]
            # moto code that builds URLs to "its" server reads MOTO_PORT.
            self._saved_moto_port = os.environ.get("MOTO_PORT")
            os.environ["MOTO_PORT"] = str(self.port)
            moto_fixes.set_interpreter_endpoint(self.endpoint_url)
            self._runtime = lambda_runtime.LambdaRuntime(
                self.state_dir, self.endpoint_url, self.region, moto_fixes.role_credentials
            )
            lambda_runtime.activate(self._runtime)
            self._bootstrap_accounts()
        except BaseException:
            self.stop()
            raise
        log.info("emulator serving at %s (extensions: %s)", self.endpoint_url, ", ".join(self.extensions))
        return self

    def stop(self) -> None:
        """Stop serving, kill function processes, stop executions, reset moto (idempotent)."""
        global _active
        with _active_lock:
            if _active is not self:
                return  # never started, already stopped, or refused: nothing of ours to undo
        if self._runtime is not None:
            lambda_runtime.activate(None)
            self._runtime.close()
            self._runtime = None
        shutdown_extensions(self.optional_extensions)
        _stop_executions()
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()  # ThreadedMotoServer.stop() leaves the socket open
        moto_fixes.set_interpreter_endpoint(None)
        if self._saved_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._saved_moto_port
        self._saved_moto_port = None
        for key, value in self._saved_config.items():
            if value is not None:
                default_user_config[key] = value  # type: ignore[literal-required]
        self._saved_config = {}
        self._keys = {}
        with _active_lock:
            if _active is self:
                _reset_moto()
                _active = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait_for_async_invocations(self, timeout: float = 30.0) -> bool:
        """Wait for Lambda invocations of type Event (EventBridge, SNS, async Invoke) to finish."""
        if self._runtime is None:
            raise EmulatorError("the emulator is not running (call start())")
        return self._runtime.wait_async(timeout)

    # -- accounts and clients --------------------------------------------------------------------

    def account_id(self, account: str) -> str:
        """``tooling``/``stage``/``prod`` or a 12-digit id -> the account id."""
        if account in ACCOUNTS:
            return ACCOUNTS[account]
        if account in ACCOUNTS.values():
            return account
        raise EmulatorError(f"unknown account {account!r}: use one of {', '.join(ACCOUNTS)} or their ids")

    def credentials(self, account: str = "tooling") -> dict[str, str]:
        """Env-style keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) of the account's admin user."""
        account_id = self.account_id(account)
        if self._server is None:
            raise EmulatorError("the emulator is not running (call start())")
        return dict(self._keys[account_id])

    def env(self, account: str = "tooling") -> dict[str, str]:
        """Variables a subprocess needs to act in ``account`` against this emulator."""
        return {
            **self.credentials(account),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "MLOPS_LOCAL_STATE": str(self.state_dir),
        }

    def session(self, account: str = "tooling") -> boto3.Session:
        """A boto3 session acting as the account's admin (pass ``endpoint_url`` to its clients)."""
        keys = self.credentials(account)
        return boto3.Session(
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            region_name=self.region,
        )

    def client(self, service: str, account: str = "tooling") -> BaseClient:
        """A boto3 client of ``service`` acting in ``account`` against this emulator."""
        return self.session(account).client(service, endpoint_url=self.endpoint_url)

    def assume_role(
        self, role_arn: str, account: str = "tooling", session_name: str = "local"
    ) -> boto3.Session:
        """A session of ``role_arn`` assumed (through STS, like on AWS) from ``account``."""
        sts = self.client("sts", account)
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.region,
        )

    def _bootstrap_accounts(self) -> None:
        for account_id in ACCOUNTS.values():
            # The only requests that name their account by header: creating the admin key.
            iam = boto3.client(
                "iam",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id="bootstrap",
                aws_secret_access_key="bootstrap",  # noqa: S106 - moto accepts any secret
            )
            iam.meta.events.register(
                "before-call",
                lambda params, _id=account_id, **_: params["headers"].__setitem__("x-moto-account-id", _id),
            )
            iam.create_user(UserName=ADMIN_USER)
            # No policy attached: moto enforces none, and AWS managed policies are not loaded.
            key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
            self._keys[account_id] = {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            }


def _ensure_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EmulatorError(f"cannot serve on {host}:{port}: {exc}") from exc


def _reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def _stop_executions() -> None:
    """Stop running Step Functions executions so no interpreter thread outlives the emulator."""
    try:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    except ImportError:
        return
    from datetime import UTC, datetime

    from moto.stepfunctions.parser.api import ExecutionStatus

    for account_backends in list(stepfunctions_parser_backends.values()):
        for backend in list(account_backends.values()):
            for execution in backend._get_executions(ExecutionStatus.RUNNING):
                try:
                    execution.stop(stop_date=datetime.now(UTC), error="EmulatorStopped", cause=None)
                except Exception:  # best effort: the backend is reset right after
                    log.debug("could not stop an execution", exc_info=True)
