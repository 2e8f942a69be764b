"""The Step Functions interpreter calls Lambdas in the state machine's account."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

ECHO = (
    "import boto3\n\n"
    "def handler(event, context):\n"
    "    account = boto3.client('sts').get_caller_identity()['Account']\n"
    "    return {'seen': event, 'account': account}\n"
)
# Stores the task token where the test can read it: the approval Lambda's job in the pipeline.
PARK_TOKEN = (
    "import boto3, os\n\n"
    "def handler(event, context):\n"
    "    boto3.client('ssm').put_parameter(Name='/test/token', Value=event['token'], Type='String',"
    " Overwrite=True)\n"
    "    return {'parked': True}\n"
)


def _state_machine(emu: Emulator, name: str, definition: dict[str, Any]) -> str:
    iam = emu.client("iam")
    role = iam.create_role(RoleName=f"{name}-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = emu.client("stepfunctions")
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
    )


def _wait(emu: Emulator, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
    sfn = emu.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError(f"{execution_arn} still running after {timeout} s")


def test_direct_arn_task_invokes_the_lambda_of_the_machines_account(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    fn_arn = create_zip_function("echo", {"app.py": ECHO})["FunctionArn"]
    assert ":111111111111:" in fn_arn
    machine = _state_machine(
        emulator,
        "direct",
        {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": fn_arn, "End": True}}},
    )

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=machine, input='{"k": "v"}')
    result = _wait(emulator, execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"seen": {"k": "v"}, "account": "111111111111"}


def test_wait_for_task_token_completes_with_send_task_success(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    fn_arn = create_zip_function("park", {"app.py": PARK_TOKEN})["FunctionArn"]
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": fn_arn, "Payload": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    machine = _state_machine(emulator, "callback", definition)
    sfn = emulator.client("stepfunctions")
    ssm = emulator.client("ssm")

    execution_arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 20
    token = None
    while token is None and time.monotonic() < deadline:
        try:
            token = ssm.get_parameter(Name="/test/token")["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            time.sleep(0.1)
    assert token, "the Lambda never received the task token (it ran in another account?)"
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    sfn.send_task_success(taskToken=token, output=json.dumps({"approved_by": "U1"}))
    result = _wait(emulator, execution_arn)

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"approved_by": "U1"}


def test_validate_definition_and_list_versions(emulator: Emulator) -> None:
    sfn = emulator.client("stepfunctions")
    good = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}

    ok = sfn.validate_state_machine_definition(definition=json.dumps(good), type="STANDARD")
    bad = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "A"}))
    not_json = sfn.validate_state_machine_definition(definition="{not json")
    unknown_type = sfn.validate_state_machine_definition(
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}})
    )

    assert (ok["result"], ok["diagnostics"]) == ("OK", [])
    for answer in (bad, not_json, unknown_type):
        assert answer["result"] == "FAIL"
        assert answer["diagnostics"][0]["severity"] == "ERROR"
    machine = _state_machine(emulator, "versions", good)
    assert sfn.list_state_machine_versions(stateMachineArn=machine)["stateMachineVersions"] == []
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(good), publish=True)
    versions = sfn.list_state_machine_versions(stateMachineArn=machine)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{machine}:1"]


@pytest.mark.parametrize("style", ["direct", "integration"])
def test_catch_matches_the_lambda_error_type(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]], style: str
) -> None:
    source = (
        "class SmokeTestFailedError(Exception):\n    pass\n\n"
        "def handler(event, context):\n    raise SmokeTestFailedError('schema mismatch')\n"
    )
    fn_arn = create_zip_function(f"smoke-{style}", {"app.py": source})["FunctionArn"]
    task: dict[str, Any] = {"Type": "Task", "End": True}
    if style == "direct":
        task["Resource"] = fn_arn
    else:
        task["Resource"] = "arn:aws:states:::lambda:invoke"
        task["Parameters"] = {"FunctionName": fn_arn, "Payload.$": "$"}
    task["Catch"] = [{"ErrorEquals": ["SmokeTestFailedError"], "ResultPath": "$.error", "Next": "RolledBack"}]
    definition = {"StartAt": "Smoke", "States": {"Smoke": task, "RolledBack": {"Type": "Pass", "End": True}}}
    machine = _state_machine(emulator, f"catch-{style}", definition)

    execution = emulator.client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")
    result = _wait(emulator, execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    error = json.loads(result["output"])["error"]
    assert error["Error"] == "SmokeTestFailedError"
    assert json.loads(error["Cause"])["errorMessage"] == "schema mismatch"
