"""The backends of the port-contract suite: each port's fake and real adapter, with test hooks.

A scenario only calls the port. Where it needs more, to set up (register a model version,
park a task that waits for its token) or to observe (read a posted message back), the
backend's ``*Backend`` record carries a hook that each backend implements its own way.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsCallbacks
from mlops_pipeline.adapters.mlflow_registry import MlflowRegistry
from mlops_pipeline.adapters.slack.client import SlackNotifier
from mlops_pipeline.domain.models import MessageRef
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer
from mlops_pipeline.ports import ChatNotifier, ModelRegistry, TaskCallbacks
from tests.fakes import FakeCallbacks, FakeNotifier, FakeRegistry

REGION = "us-east-1"
TABLE = "mlops-pipeline"


# -- model registry --------------------------------------------------------------------------


@dataclass
class RegistryBackend:
    """The registry plus how to register a version (the port only reads and labels versions)."""

    registry: ModelRegistry
    add_version: Callable[[str, Mapping[str, float], Mapping[str, str]], str]

    @staticmethod
    def new_name() -> str:
        return f"model-{uuid.uuid4().hex[:10]}"


def fake_registry() -> RegistryBackend:
    fake = FakeRegistry()
    counters: dict[str, itertools.count[int]] = {}

    def add(name: str, metrics: Mapping[str, float], tags: Mapping[str, str]) -> str:
        version = str(next(counters.setdefault(name, itertools.count(1))))
        fake.add(name, version, metrics, **tags)
        return version

    return RegistryBackend(fake, add)


def mlflow_registry(server: MlflowServer, workdir: Path) -> RegistryBackend:
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    experiment = client.create_experiment(f"ports-{uuid.uuid4().hex[:8]}")

    def add(name: str, metrics: Mapping[str, float], tags: Mapping[str, str]) -> str:
        run_id = client.create_run(experiment).info.run_id
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        model_dir = workdir / run_id / "model"  # the version's source must exist
        model_dir.mkdir(parents=True)
        (model_dir / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
        client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        client.set_terminated(run_id)
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        return str(
            client.create_model_version(name, f"runs:/{run_id}/model", run_id, tags=dict(tags)).version
        )

    return RegistryBackend(MlflowRegistry(tracking_uri=server.url), add)


# -- task callbacks --------------------------------------------------------------------------


@dataclass
class CallbacksBackend:
    """The callbacks plus tasks to answer: ``waiting_token()`` parks a task and returns its token,
    ``outcome(token)`` is ``("SUCCEEDED", output)`` or ``("FAILED", error)`` once answered."""

    callbacks: TaskCallbacks
    waiting_token: Callable[[], str]
    outcome: Callable[[str], tuple[str, Any]]
    gone_token: Callable[[], str]  # a token whose task no longer waits


def fake_callbacks() -> CallbacksBackend:
    fake = FakeCallbacks()
    tokens = (f"token-{i}" for i in itertools.count(1))

    def outcome(token: str) -> tuple[str, Any]:
        for answered, output in fake.successes:
            if answered == token:
                return ("SUCCEEDED", dict(output))
        for answered, error, _ in fake.failures:
            if answered == token:
                return ("FAILED", error)
        return ("RUNNING", None)

    def gone_token() -> str:
        # The fake takes any token it has not seen answered; an answered one is gone.
        token = next(tokens)
        fake.send_success(token, {})
        return token

    return CallbacksBackend(fake, lambda: next(tokens), outcome, gone_token)


@dataclass
class _StepFunctionsTasks:
    """Executions parked on ``sqs:sendMessage.waitForTaskToken`` (the token arrives by SQS)."""

    sfn: Any = field(default_factory=lambda: boto3.client("stepfunctions", region_name=REGION))
    sqs: Any = field(default_factory=lambda: boto3.client("sqs", region_name=REGION))
    executions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = self.sqs.create_queue(QueueName="tokens")["QueueUrl"]
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        task = {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": self.queue, "MessageBody": {"token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 60,
            "End": True,
        }
        definition = json.dumps({"StartAt": "Approval", "States": {"Approval": task}})
        self.machine = self.sfn.create_state_machine(name="approval", definition=definition, roleArn=role)[
            "stateMachineArn"
        ]

    def waiting_token(self) -> str:
        execution = self.sfn.start_execution(stateMachineArn=self.machine, input="{}")["executionArn"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for message in self.sqs.receive_message(QueueUrl=self.queue).get("Messages", []):
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
                token = str(json.loads(message["Body"])["token"])
                self.executions[token] = execution
                return token
            time.sleep(0.05)
        raise AssertionError("the execution never sent its task token")

    def outcome(self, token: str) -> tuple[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=self.executions[token])
            if described["status"] == "SUCCEEDED":
                return ("SUCCEEDED", json.loads(described["output"]))
            if described["status"] != "RUNNING":
                return (str(described["status"]), described.get("error"))
            time.sleep(0.05)
        return ("RUNNING", None)


def stepfunctions_callbacks() -> CallbacksBackend:
    """StepFunctionsCallbacks on moto (inside ``mock_aws``); tokens of real waiting executions."""
    tasks = _StepFunctionsTasks()
    callbacks = StepFunctionsCallbacks(client=tasks.sfn)
    return CallbacksBackend(callbacks, tasks.waiting_token, tasks.outcome, lambda: "not-a-token")


# -- chat ------------------------------------------------------------------------------------

BOT_TOKEN = "xoxb-ports-test-token-0123456789"
CHANNEL = "C0PIPELINE"
USER, USER_EMAIL = "U0APPROVER", "approver@example.com"
GROUP, GROUP_MEMBERS = "S0APPROVERS", frozenset({"U0APPROVER"})


@dataclass(frozen=True)
class SeenMessage:
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None


@dataclass
class ChatBackend:
    """The notifier plus read-back: the stand-in's workspace has channel ``CHANNEL``, user ``USER``
    (``USER_EMAIL``) and group ``GROUP``; the fake is set up with the same."""

    notifier: ChatNotifier
    message: Callable[[MessageRef], SeenMessage | None]
    ephemerals: Callable[[], list[tuple[str, str, str]]]


def fake_chat() -> ChatBackend:
    fake = FakeNotifier({USER_EMAIL: USER}, channels={CHANNEL}, users={USER})
    fake.groups[GROUP] = GROUP_MEMBERS

    def message(ref: MessageRef) -> SeenMessage | None:
        seen = fake.messages.get(ref.ts)
        if seen is None or seen["channel"] != ref.channel:
            return None
        return SeenMessage(seen["channel"], seen["text"], list(seen["blocks"]), seen["thread_ts"])

    def ephemerals() -> list[tuple[str, str, str]]:
        return [(e["channel"], e["user"], e["text"]) for e in fake.ephemerals]

    return ChatBackend(fake, message, ephemerals)


def slack_chat(slack: LocalSlackServer) -> ChatBackend:
    def message(ref: MessageRef) -> SeenMessage | None:
        seen = slack.message(ref.ts)
        if seen is None or seen.channel != ref.channel:
            return None
        thread = seen.thread_ts if seen.is_reply else None
        return SeenMessage(seen.channel, seen.text, list(seen.blocks), thread)

    def ephemerals() -> list[tuple[str, str, str]]:
        return [(e.channel, e.user, e.text) for e in slack.ephemerals()]

    return ChatBackend(SlackNotifier(BOT_TOKEN, base_url=slack.api_url), message, ephemerals)
