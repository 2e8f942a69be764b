"""A git push in GitHub mode (``local up --git-host github``): the local remote's hook sends GitHub's
signed push webhook through the gateway's ``POST /git/webhook`` to the deployed ``git_webhook``
function, which starts the pipeline; a redelivery of the same body starts nothing new."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.stack.git_remote import LocalGitRemote
from mlops_pipeline.local.stack.interactions_gateway import InteractionsGateway, lambda_invoker
from mlops_pipeline.local.stack.webhook_endpoint import (
    WEBHOOK_ROUTE,
    WebhookEndpoint,
    provision_webhook,
    read_secret,
)
from mlops_pipeline.local.stack.webhook_sender import LOCAL_LOGIN, recorded, redeliver
from tests.asl.conftest import Pipeline, git

pytestmark = pytest.mark.asl

REPOSITORY = "local/webhook-models"


@dataclass
class WebhookPath:
    endpoint: WebhookEndpoint
    url: str
    remote: LocalGitRemote
    deliveries: Path


@pytest.fixture(scope="module")
def github(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookPath]:
    """What ``local up --git-host github`` wires on top of the harness: the webhook secret and the
    function's settings, the gateway route, and the git remote's hook pointed at it."""
    endpoint = provision_webhook(pipeline.stack, "github", REPOSITORY)
    invoke = lambda_invoker(pipeline.emu.client("lambda"), endpoint.function_name)
    root = tmp_path_factory.mktemp("webhook")
    with InteractionsGateway(invoke, route=WEBHOOK_ROUTE) as gateway, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_LOCAL_STATE", str(root))  # where the hook logs (read at configure time)
        remote = LocalGitRemote(root / "git", "webhook-models")
        remote.configure(pipeline.emu.endpoint_url, pipeline.emu.credentials("tooling"))
        remote.set_webhook("github", gateway.url, endpoint.secret_arn, REPOSITORY, LOCAL_LOGIN)
        config = json.loads((remote.path / "mlops-remote.json").read_text())
        yield WebhookPath(endpoint, gateway.url, remote, Path(config["webhook"]["deliveries_file"]))


def executions(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Every execution of the pipeline's state machine: name -> input."""
    sfn = pipeline.emu.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=pipeline.stack.state_machine_arn, maxResults=1000)
    return {
        e["name"]: json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in listed["executions"]
    }


def test_a_push_through_the_github_webhook_starts_one_run(pipeline: Pipeline, github: WebhookPath) -> None:
    before = set(executions(pipeline))
    # A build that fails at once: the run ends fast and touches no environment.
    commit = pipeline.commit({"name": "webhooked", "metrics": {"rmse": 3.0}, "fail": "ModuleNotFoundError"})
    git(pipeline.repo, "push", "-q", github.remote.url, "HEAD:main")  # the real hook runs

    [delivery] = recorded(github.deliveries)
    assert delivery["status"] == 202, delivery
    started = {name: data for name, data in executions(pipeline).items() if name not in before}
    name = f"github-{delivery['delivery']}"
    assert list(started) == [name]
    assert started[name]["author"] == f"github:{LOCAL_LOGIN}"
    assert started[name]["commit"] == commit
    assert started[name]["repository"] == REPOSITORY and started[name]["branch"] == "main"

    # The same body again under another delivery id (a replay), then under its own (a redelivery).
    secret = read_secret(pipeline.emu, github.endpoint)
    for delivery_id in ("0b8a3e5c-0000-4000-8000-000000000001", None):
        status, answer = redeliver(github.url, delivery, secret, delivery_id)
        assert status == 200 and json.loads(answer)["status"] == "already processed", answer
    # Signed with another secret: refused before anything is read.
    status, _ = redeliver(github.url, delivery, "not-the-secret", "0b8a3e5c-0000-4000-8000-000000000002")
    assert status == 401
    assert set(executions(pipeline)) == before | {name}

    arn = f"{pipeline.stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    assert pipeline.stack.wait(arn)["status"] == "FAILED"  # leave nothing running for the next tests
