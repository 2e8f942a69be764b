"""Step Functions: answer a ``waitForTaskToken`` task (TaskCallbacks); start the pipeline (PipelineStarter)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mlops_pipeline.domain.errors import PipelineStartError, TaskGoneError
from mlops_pipeline.domain.webhook import Started

# The task no longer waits for this token: it timed out, its execution ended, or the
# token was never valid. Either way the approval is moot.
_GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

# API limits of SendTaskFailure.
_MAX_ERROR = 256
_MAX_CAUSE = 32768


def _gone(exc: ClientError) -> TaskGoneError | None:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _GONE_CODES:
        # The token itself is a credential of sorts: never echo it.
        return TaskGoneError(f"the waiting task is gone ({code}); the decision was not delivered", code)
    return None


class StepFunctionsCallbacks:
    """SendTaskSuccess / SendTaskFailure with the "task is gone" cases mapped to TaskGoneError."""

    def __init__(self, client: Any | None = None) -> None:
        self._sfn = client if client is not None else boto3.client("stepfunctions")

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        body = json.dumps(dict(output), default=str)
        try:
            self._sfn.send_task_success(taskToken=task_token, output=body)
        except ClientError as exc:
            gone = _gone(exc)
            if gone is not None:
                raise gone from None
            raise

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        try:
            self._sfn.send_task_failure(
                taskToken=task_token, error=error[:_MAX_ERROR], cause=cause[:_MAX_CAUSE]
            )
        except ClientError as exc:
            gone = _gone(exc)
            if gone is not None:
                raise gone from None
            raise


class StepFunctionsStarter:
    """StartExecution of one state machine; an existing execution of the name is not started again."""

    def __init__(self, state_machine_arn: str, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = client if client is not None else boto3.client("stepfunctions")

    def execution_arn(self, name: str) -> str:
        """The ARN an execution ``name`` of this state machine has (standard workflows)."""
        prefix, _, machine = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, execution_input: Mapping[str, Any]) -> Started:
        try:
            # Same name and input as a running execution: AWS returns that execution (idempotent).
            response = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(dict(execution_input))
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ExecutionAlreadyExists":  # ended, or running with another input
                return Started(self.execution_arn(name), new=False)
            raise PipelineStartError(f"StartExecution {name} failed: {code or exc}") from None
        return Started(str(response["executionArn"]), new=True)
