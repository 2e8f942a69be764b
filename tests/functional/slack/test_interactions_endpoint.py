"""The interactions endpoint's contract, on the deployed function behind the local API Gateway.

A signed Approve click is answered with HTTP 200 and, by the time it settles, has decided the
approval: the waiting task got its token answered (SendTaskSuccess: the execution succeeds)
and the card in Slack shows the decision. A forged click is refused and decides nothing.
No timing is asserted (``benchmarks/interactions.py`` measures it), and side effects are
awaited rather than expected at the moment of the answer, so the contract also holds for an
endpoint that acknowledges first and finishes the work asynchronously.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore
from mlops_pipeline.adapters.slack.signature import sign
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.harness import PipelineStack, StackSettings
from mlops_pipeline.local.stack.interactions_gateway import InteractionsGateway, lambda_invoker
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer, SlackMessage

pytestmark = [pytest.mark.functional, pytest.mark.slow]

BOT_TOKEN = "xoxb-local-interactions-test"
SIGNING_SECRET = "local-interactions-signing-secret"
APPROVER = "U0APPROVER"
# The trusted trigger's pusher, mapped to the stand-in's data scientist: one approval decides.
PUSHER = "arn:aws:iam::111111111111:user/data-scientist"
SETTLE_SECONDS = 120.0

T = TypeVar("T")


@dataclass
class Endpoint:
    emu: Emulator
    stack: PipelineStack
    slack: LocalSlackServer
    machine: str

    @property
    def approvals(self) -> DynamoApprovalStore:
        return DynamoApprovalStore(self.stack.table, client=self.emu.client("dynamodb"))

    def pending_approval(self) -> tuple[str, str, str]:
        """A real waiting task and its card: (execution ARN, approval id, card ts)."""
        model = f"churn-{uuid.uuid4().hex[:8]}"
        commit = uuid.uuid4().hex
        trigger = {"commit": commit, "repository": "models", "branch": "main", "author": PUSHER}
        spec = {"model_name": model, "model_version": "3", "commit": commit, "author_email": "ds@example.com"}
        execution = self.emu.client("stepfunctions").start_execution(
            stateMachineArn=self.machine, name=model, input=json.dumps({"input": trigger, "model": spec})
        )["executionArn"]
        approval = settle(
            lambda: next((a for a in self.approvals.list_pending(model) if a.slack_ts), None),
            f"the approval card of {model}",
        )
        return execution, approval.id, str(approval.slack_ts)

    def execution(self, arn: str) -> dict[str, Any]:
        return dict(self.emu.client("stepfunctions").describe_execution(executionArn=arn))

    def ended(self, arn: str) -> dict[str, Any] | None:
        described = self.execution(arn)
        return described if described["status"] != "RUNNING" else None

    def decided_card(self, ts: str) -> SlackMessage | None:
        message = self.slack.message(ts)
        return message if message is not None and not message.buttons else None


def settle(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + SETTLE_SECONDS
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {SETTLE_SECONDS:.0f}s")
        time.sleep(0.1)
    return value


def approval_machine(function_arn: str) -> str:
    """The pipeline's RequestApproval task alone: request_approval with the task token, then wait."""
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": function_arn,
            "Payload": {
                "token.$": "$$.Task.Token",
                "execution.$": "$$.Execution.Id",
                "input.$": "$.input",
                "model.$": "$.model",
            },
        },
        "TimeoutSeconds": 600,
        "ResultPath": "$.approval",
        "End": True,
    }
    return json.dumps({"StartAt": "RequestApproval", "States": {"RequestApproval": task}})


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    root = tmp_path_factory.mktemp("interactions")
    with Emulator(root / "state") as emu, LocalSlackServer(BOT_TOKEN, SIGNING_SECRET) as slack:
        settings = StackSettings(
            approval_timeout_seconds=600,
            extra_env={"IDENTITY_MAP": json.dumps({PUSHER: "U0AUTHOR"}), "REQUIRED_APPROVALS": "1"},
        )
        stack = PipelineStack(emu, "http://127.0.0.1:9/no-mlflow", slack.api_url, Path(root), settings)
        stack.provision({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET})
        role = emu.client("iam").create_role(
            RoleName="interactions-test-states",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        machine = emu.client("stepfunctions").create_state_machine(
            name="approval-only",
            definition=approval_machine(stack.function_arns["request_approval"]),
            roleArn=role,
        )["stateMachineArn"]
        invoke = lambda_invoker(emu.client("lambda"), stack.function_name("slack_interactions"))
        with InteractionsGateway(invoke) as gateway:
            slack.interactions_url = gateway.url
            yield Endpoint(emu, stack, slack, machine)


def test_a_signed_click_is_answered_200_and_decides(endpoint: Endpoint) -> None:
    execution, approval_id, card_ts = endpoint.pending_approval()

    status, _ = endpoint.slack.click(card_ts, "approve", APPROVER)

    assert status == 200
    done = settle(lambda: endpoint.ended(execution), "end of the waiting execution")
    assert done["status"] == "SUCCEEDED"  # SendTaskSuccess answered the task token
    answer = json.loads(done["output"])["approval"]
    assert (answer["approval_id"], answer["approved_by"]) == (approval_id, APPROVER)
    approval = endpoint.approvals.get(approval_id)
    assert approval is not None and approval.status.value == "APPROVED" and approval.decided_by == APPROVER
    card = settle(lambda: endpoint.decided_card(card_ts), "decided card (chat.update)")
    assert "approved" in card.text.lower()


def test_a_forged_click_is_refused_and_decides_nothing(endpoint: Endpoint) -> None:
    execution, approval_id, card_ts = endpoint.pending_approval()
    body = endpoint.slack.interaction_body(card_ts, "approve", APPROVER)
    headers = {
        **sign(body, "not-the-signing-secret", int(time.time())),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    url = str(endpoint.slack.interactions_url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=120)

    assert refused.value.code == 401
    assert endpoint.emu.wait_for_async_invocations(timeout=60)  # anything it started in the background
    approval = endpoint.approvals.get(approval_id)
    assert approval is not None and approval.status.value == "PENDING" and approval.decided_by is None
    assert endpoint.execution(execution)["status"] == "RUNNING"
    message = endpoint.slack.message(card_ts)
    assert message is not None and message.buttons
