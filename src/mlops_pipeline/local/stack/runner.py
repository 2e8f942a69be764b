"""The daemon side of the local stack: :class:`LocalStack` starts and stops everything in-process.

moto serves in-process, so whoever hosts the emulator must stay alive: ``local up`` runs this
inside the background process (``mlops_pipeline.local.stack.daemon``). It starts every server on
127.0.0.1 (emulator, MLflow, the Slack stand-in unless real Slack is configured, the
interactions gateway, with the git webhook route for ``--git-host github|gitlab``), provisions the
pipeline and describes the result as a :class:`StackInfo`.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_pipeline.local.stack.ports import HOST, ensure_port_free
from mlops_pipeline.local.stack.provisioning import DEFAULT_CHANNEL, provision_harness, provision_terraform
from mlops_pipeline.local.stack.slack_config import slack_config_from_env
from mlops_pipeline.local.stack.state import StackInfo, StackOptions
from mlops_pipeline.local.stack.webhook_endpoint import WEBHOOK_ROUTE
from mlops_pipeline.local.stack.webhook_sender import LOCAL_LOGIN

ARTIFACT_BUCKET = "mlops-mlflow-artifacts"


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
        from mlops_pipeline.local.stack.interactions_gateway import (
            InteractionsGateway,
            Invoke,
            lambda_invoker,
        )
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
        provision = provision_terraform if options.terraform else provision_harness
        provisioned = provision(
            options, self.state_dir, emu, mlflow.url, slack_api_url, secret_values, channel
        )
        self.pipeline = provisioned.pipeline
        remote = provisioned.remote
        timings["provision"] = time.monotonic() - step

        webhook = provisioned.webhook
        routes: dict[str, Invoke] = {}
        if webhook is not None:  # API Gateway's POST /git/webhook -> git_webhook, as on AWS
            routes[WEBHOOK_ROUTE] = lambda_invoker(emu.client("lambda"), webhook.function_name)
        gateway = InteractionsGateway(
            lambda_invoker(emu.client("lambda"), provisioned.interactions_function),
            host=HOST,
            port=options.gateway_port,
            routes=routes,
        )
        self._exit.callback(gateway.stop)
        gateway.start()
        if slack is not None:
            slack.interactions_url = gateway.url
        webhook_url = gateway.url_of(WEBHOOK_ROUTE) if webhook is not None else ""
        if webhook is not None:
            remote.set_webhook(webhook.host, webhook_url, webhook.secret_arn, webhook.repository, LOCAL_LOGIN)
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
            state_machine_arn=provisioned.state_machine_arn,
            table=provisioned.table,
            inference_functions=provisioned.inference_functions,
            channel=provisioned.channel,
            approvers=list(options.approvers),
            ports={
                "emulator": emu.port,
                "mlflow": mlflow.port,
                **({"slack": slack.port} if slack is not None else {}),
                "gateway": gateway.port,
            },
            timings={k: round(v, 2) for k, v in timings.items()},
            slack_mode="local" if slack is not None else "slack",
            git_host=options.git_host,
            webhook_url=webhook_url,
            rollout=options.rollout,
        )
        return self.info

    def stop(self) -> None:
        """Stop everything this stack started (idempotent)."""
        self._exit.close()
