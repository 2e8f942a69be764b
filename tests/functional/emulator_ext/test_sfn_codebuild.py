"""``arn:aws:states:::codebuild:startBuild.sync`` in moto's ASL interpreter."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

BUILDSPEC = """\
version: 0.2
env:
  exported-variables: [MODEL_VERSION, GIT_COMMIT]
phases:
  build:
    commands:
      - test "$GIT_COMMIT" = "$CODEBUILD_RESOLVED_SOURCE_VERSION"
      - export MODEL_VERSION=3
      - test "$FAIL" != yes
"""


def _definition(project: str) -> str:
    return json.dumps(
        {
            "StartAt": "Build",
            "States": {
                "Build": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::codebuild:startBuild.sync",
                    "Parameters": {
                        "ProjectName": project,
                        "SourceVersion.$": "$.commit",
                        "EnvironmentVariablesOverride": [
                            {"Name": "GIT_COMMIT", "Type": "PLAINTEXT", "Value.$": "$.commit"},
                            {"Name": "FAIL", "Type": "PLAINTEXT", "Value.$": "$.fail"},
                        ],
                    },
                    "ResultSelector": {
                        "build_id.$": "$.Build.Id",
                        "status.$": "$.Build.BuildStatus",
                        "exported.$": "$.Build.ExportedEnvironmentVariables",
                    },
                    "End": True,
                }
            },
        }
    )


def _run(emulator: Emulator, machine: str, payload: dict[str, str]) -> dict[str, Any]:
    sfn = emulator.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{time.time_ns()}", input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        time.sleep(0.2)
    raise AssertionError("execution still running")


@pytest.fixture
def machine(emulator: Emulator, source_repo: Any, make_project: Any) -> tuple[str, str]:
    origin, commit = source_repo({"train.py": "print(1)\n"})
    name = f"sfn-build-{uuid.uuid4().hex[:8]}"
    make_project(name, str(origin), buildspec=BUILDSPEC)
    arn = emulator.client("stepfunctions").create_state_machine(
        name=name, definition=_definition(name), roleArn="arn:aws:iam::111111111111:role/sfn"
    )["stateMachineArn"]
    return arn, commit


def test_sync_task_outputs_the_finished_build(emulator: Emulator, machine: tuple[str, str]) -> None:
    arn, commit = machine
    execution = _run(emulator, arn, {"commit": commit, "fail": "no"})

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["status"] == "SUCCEEDED"
    assert output["exported"] == [
        {"Name": "MODEL_VERSION", "Value": "3"},
        {"Name": "GIT_COMMIT", "Value": commit},
    ]
    build = emulator.client("codebuild").batch_get_builds(ids=[output["build_id"]])["builds"][0]
    assert build["buildStatus"] == "SUCCEEDED"


def test_failed_build_fails_the_task(emulator: Emulator, machine: tuple[str, str]) -> None:
    arn, commit = machine
    execution = _run(emulator, arn, {"commit": commit, "fail": "yes"})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.TaskFailed"
    cause = json.loads(execution["cause"])
    assert cause["Build"]["BuildStatus"] == "FAILED"
    assert cause["Build"]["Id"].startswith("sfn-build-")
    assert cause["Build"]["Phases"][-1]["PhaseType"] == "COMPLETED"
