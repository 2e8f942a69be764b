"""StepFunctionsCallbacks against moto's ASL interpreter with a real waitForTaskToken task."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsCallbacks
from mlops_pipeline.domain.errors import TaskGoneError

pytestmark = pytest.mark.functional


class WaitingTask:
    """An execution parked on ``sqs:sendMessage.waitForTaskToken``; the token arrives by SQS."""

    def __init__(self, timeout_seconds: int = 60) -> None:
        # moto's interpreter makes its service calls in moto's default account, so the
        # whole set-up lives there (accounts play no part in the callback API).
        self.sqs = boto3.client("sqs")
        self.sfn = boto3.client("stepfunctions")
        queue = self.sqs.create_queue(QueueName="tokens")["QueueUrl"]
        self.queue = queue
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        definition = {
            "StartAt": "Approval",
            "States": {
                "Approval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": timeout_seconds,
                    "End": True,
                }
            },
        }
        machine = self.sfn.create_state_machine(
            name="approval", definition=json.dumps(definition), roleArn=role
        )
        self.execution = self.sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")[
            "executionArn"
        ]

    def token(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue).get("Messages", [])
            if messages:
                return str(json.loads(messages[0]["Body"])["token"])
            time.sleep(0.05)
        raise AssertionError("the execution never sent its task token")

    def result(self) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=self.execution)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError("the execution did not finish")


def test_send_success_completes_the_task(aws: None) -> None:
    task = WaitingTask()
    callbacks = StepFunctionsCallbacks(client=task.sfn)

    callbacks.send_success(task.token(), {"approval_id": "a1", "approved_by": "U1"})

    result = task.result()
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"approval_id": "a1", "approved_by": "U1"}


def test_send_failure_fails_the_execution_with_the_stable_error(aws: None) -> None:
    task = WaitingTask()
    callbacks = StepFunctionsCallbacks(client=task.sfn)

    sent: list[dict[str, Any]] = []
    task.sfn.meta.events.register(
        "provide-client-params.stepfunctions.SendTaskFailure", lambda params, **_: sent.append(dict(params))
    )

    callbacks.send_failure(task.token(), "ModelRejected", "rejected by U2")

    result = task.result()
    assert result["status"] == "FAILED"
    assert result["error"] == "ModelRejected"
    # moto drops the cause on the floor; check that it was sent.
    assert sent[0]["cause"] == "rejected by U2"


def test_answering_twice_or_a_bogus_token_is_task_gone(aws: None) -> None:
    task = WaitingTask()
    callbacks = StepFunctionsCallbacks(client=task.sfn)
    token = task.token()
    callbacks.send_success(token, {"approval_id": "a1"})
    task.result()

    # (moto accepts a SendTaskFailure for a finished task, AWS does not; so test with success.)
    with pytest.raises(TaskGoneError) as info:
        callbacks.send_success(token, {"approval_id": "a1", "again": True})
    assert info.value.code == "InvalidToken"
    assert token not in str(info.value)
    with pytest.raises(TaskGoneError):
        callbacks.send_failure("not-a-token", "ModelRejected", "x")


def test_timed_out_task_is_gone(aws: None) -> None:
    task = WaitingTask(timeout_seconds=1)
    token = task.token()
    assert task.result()["status"] == "FAILED"
    with pytest.raises(TaskGoneError):
        StepFunctionsCallbacks(client=task.sfn).send_success(token, {"approval_id": "a1"})
