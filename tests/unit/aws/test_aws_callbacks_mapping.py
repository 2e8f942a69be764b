"""Error mapping of StepFunctionsCallbacks for codes moto cannot produce (botocore Stubber, no network)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsCallbacks
from mlops_pipeline.domain.errors import TaskGoneError

TOKEN = "AAAAKgAAAAIAAAAAAAAAAsecret-token-material"


def stubbed() -> tuple[StepFunctionsCallbacks, Stubber]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return StepFunctionsCallbacks(client=client), Stubber(client)


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_gone_codes_become_task_gone(code: str) -> None:
    callbacks, stub = stubbed()
    stub.add_client_error("send_task_success", service_error_code=code, service_message=f"bad {TOKEN}")
    with stub, pytest.raises(TaskGoneError) as info:
        callbacks.send_success(TOKEN, {"approval_id": "a1"})
    assert info.value.code == code
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None


def test_other_errors_propagate() -> None:
    callbacks, stub = stubbed()
    stub.add_client_error("send_task_failure", service_error_code="ThrottlingException")
    with stub, pytest.raises(ClientError, match="ThrottlingException"):
        callbacks.send_failure(TOKEN, "ModelRejected", "no")


def test_failure_fields_are_cut_to_the_api_limits() -> None:
    callbacks, stub = stubbed()
    stub.add_response(
        "send_task_failure",
        {},
        expected_params={"taskToken": TOKEN, "error": "E" * 256, "cause": "c" * 32768},
    )
    with stub:
        callbacks.send_failure(TOKEN, "E" * 300, "c" * 40000)
    stub.assert_no_pending_responses()


def test_success_output_is_json() -> None:
    callbacks, stub = stubbed()
    stub.add_response(
        "send_task_success",
        {},
        expected_params={"taskToken": TOKEN, "output": '{"approval_id": "a1", "approved_by": "U1"}'},
    )
    with stub:
        callbacks.send_success(TOKEN, {"approval_id": "a1", "approved_by": "U1"})
    stub.assert_no_pending_responses()
