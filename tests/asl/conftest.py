"""The ASL tier: the real state machine on moto's interpreter, real handlers, real MLflow, local Slack.

One stack per session (starting it costs ~10 s); each test uses its own model name so
registry aliases do not leak between tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore, DynamoRunStore
from mlops_pipeline.adapters.slack.signature import sign
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.harness import PipelineStack, StackSettings
from mlops_pipeline.local.stack.interactions_gateway import InteractionsGateway, lambda_invoker
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer, SlackMessage

PROJECT = Path(__file__).parent / "model_project"
BOT_TOKEN = "xoxb-local-test"
SIGNING_SECRET = "local-signing-secret-for-tests"
DEFAULT_MODEL = "ships"  # model_project/build.py's name when model.json gives none

pytestmark = pytest.mark.asl


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Data Scientist",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Data Scientist",
        "GIT_COMMITTER_EMAIL": "author@example.com",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Pipeline:
    emu: Emulator
    stack: PipelineStack
    slack: LocalSlackServer
    mlflow: MlflowServer
    repo: Path

    def commit(self, spec: dict[str, Any], declare: bool = True) -> str:
        """Commit ``model.json`` = spec to the model repo; returns the commit id.

        The model (spec ``name``, build.py's default ``ships``) is declared first, as adding it to
        Terraform's ``models`` would, unless ``declare`` is False (a push of an undeclared model).
        """
        if declare:
            self.stack.declare_model(str(spec.get("name", DEFAULT_MODEL)))
        (self.repo / "model.json").write_text(json.dumps(spec))
        git(self.repo, "add", "model.json")
        git(self.repo, "commit", "-q", "-m", f"model {spec}")
        return git(self.repo, "rev-parse", "HEAD")

    def live(self, environment: str, model: str) -> str:
        """The version behind alias ``live`` of ``model``'s function in ``environment``."""
        return self.stack.alias_version(environment, model)

    def invoke_live(self, environment: str, model: str, x: float = 1.0) -> dict[str, Any]:
        """What ``model``'s function answers through ``live`` in ``environment`` for one row."""
        response = self.emu.client("lambda", environment).invoke(
            FunctionName=f"{self.stack.inference_function_for(model)}:live",
            Payload=json.dumps({"inputs": [{"x": x}]}).encode(),
        )
        return dict(json.loads(response["Payload"].read()))

    @property
    def approvals(self) -> DynamoApprovalStore:
        return DynamoApprovalStore(self.stack.table, client=self.emu.client("dynamodb"))

    @property
    def runs(self) -> DynamoRunStore:
        return DynamoRunStore(self.stack.table, client=self.emu.client("dynamodb"))

    def thread(self, execution: str) -> list[SlackMessage]:
        run = self.runs.get(execution)
        assert run is not None and run.slack_thread_ts, f"no Slack thread for {execution}"
        return self.slack.thread(run.slack_thread_ts)

    def wait_for_card(self, execution: str, timeout: float = 240.0) -> SlackMessage:
        """The approval card of the execution, once posted (fails early if the run ended)."""
        sfn = self.emu.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.runs.get(execution)
            if run is not None and run.slack_thread_ts:
                cards = [m for m in self.slack.thread(run.slack_thread_ts) if m.buttons]
                if cards:
                    return cards[-1]
            status = sfn.describe_execution(executionArn=execution)["status"]
            if status != "RUNNING":
                raise AssertionError(
                    f"{execution} ended {status} before asking for approval: {self.stack.states(execution)}\n"
                    + "\n".join(m.text for m in self.thread(execution))
                )
            time.sleep(0.5)
        raise AssertionError(f"no approval card after {timeout}s; states: {self.stack.states(execution)}")

    def click(self, card: SlackMessage, action: str, user: str = "U0APPROVER") -> tuple[int, str]:
        return self.slack.click(card.ts, action, user)

    def post_signed(self, body: bytes, secret: str = SIGNING_SECRET) -> int:
        """POST an interaction body to the endpoint, signed now: a retry, a double click, a forgery."""
        headers = {
            **sign(body, secret, int(time.time())),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        request = urllib.request.Request(
            str(self.slack.interactions_url), data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


@pytest.fixture(scope="package")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("asl")
    repo = root / "model-repo"
    repo.mkdir()
    for name in ("build.py", "serve.py"):
        shutil.copy(PROJECT / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial project")
    with (
        Emulator(root / "state") as emu,
        MlflowServer(root / "mlflow") as mlflow,
        LocalSlackServer(BOT_TOKEN, SIGNING_SECRET) as slack,
    ):
        stack = PipelineStack(
            emu,
            mlflow.url,
            slack.api_url,
            repo,
            # Terraform declares at least one model; each test declares its own on commit.
            StackSettings(approval_timeout_seconds=600, models=(DEFAULT_MODEL,)),
        )
        stack.provision({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET})
        invoke = lambda_invoker(emu.client("lambda"), stack.function_name("slack_interactions"))
        with InteractionsGateway(invoke) as gateway:
            slack.interactions_url = gateway.url
            yield Pipeline(emu, stack, slack, mlflow, repo)
