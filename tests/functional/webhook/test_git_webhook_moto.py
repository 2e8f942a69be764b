"""The git webhook end to end on moto: DynamoDB's conditional write and Step Functions' execution
names make a redelivery, a replayed body and a failed start each end in exactly one execution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from mlops_pipeline.adapters.aws.dynamodb.deliveries import DynamoDeliveryStore
from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsStarter
from mlops_pipeline.domain.errors import PipelineStartError
from mlops_pipeline.domain.webhook import Started
from mlops_pipeline.handlers import git_webhook
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock
from tests.functional.webhook.conftest import REGION, TABLE
from tests.webhook_samples import COMMIT, DELIVERY, REPOSITORY, SECRET, event, github_body

pytestmark = pytest.mark.functional

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def machine(aws: None) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
    return str(
        sfn.create_state_machine(name="mlops-pipeline", definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
    )


def deps(ddb: Any, machine: str, starter: Any = None) -> Deps:
    env = {
        "MLOPS_TABLE": TABLE,
        "GIT_HOST": "github",
        "GIT_REPOSITORY": REPOSITORY["github"],
        "STATE_MACHINE_ARN": machine,
    }
    return Deps(
        env=env,
        clock=FakeClock(NOW),
        deliveries=DynamoDeliveryStore(TABLE, client=ddb),
        starter=starter
        or StepFunctionsStarter(machine, client=boto3.client("stepfunctions", region_name=REGION)),
        git_webhook_secret=SECRET,
    )


def executions(machine: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [
        {**e, "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])}
        for e in listed
    ]


def call(d: Deps, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = git_webhook.handle(request, d)
    return response["statusCode"], json.loads(response["body"])


def test_a_push_starts_one_execution_and_its_redeliveries_none(ddb: Any, machine: str) -> None:
    d = deps(ddb, machine)
    body = github_body(NOW - timedelta(seconds=5))
    status, first = call(d, event("github", body))
    assert status == 202
    assert call(d, event("github", body)) == (
        200,
        {"status": "already processed", "execution": first["execution"]},
    )
    replay = event("github", body, delivery="ffffffff-1111-2222-3333-444444444444")
    assert call(d, replay)[1]["status"] == "already processed"
    [only] = executions(machine)
    assert only["name"] == f"github-{DELIVERY['github']}" and only["executionArn"] == first["execution"]
    assert only["input"] == {
        "commit": COMMIT,
        "repository": REPOSITORY["github"],
        "branch": "main",
        "author": "github:Octocat",
        "pushed_at": (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    item = ddb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"WEBHOOK#{git_webhook_key(body)}"}, "sk": {"S": "DELIVERY"}}
    )["Item"]
    assert item["execution"]["S"] == first["execution"] and item["delivery_id"]["S"] == DELIVERY["github"]
    assert int(item["ttl"]["N"]) == int((NOW + timedelta(days=4)).timestamp())


def git_webhook_key(body: dict[str, Any]) -> str:
    return f"github#{body['repository']['full_name']}#main#{body['before']}#{body['after']}"


class FailOnce:
    """The real starter, after one StartExecution that failed."""

    def __init__(self, real: StepFunctionsStarter) -> None:
        self.real, self.failed = real, False

    def start(self, name: str, execution_input: Any) -> Started:
        if not self.failed:
            self.failed = True
            raise PipelineStartError("StartExecution failed: ServiceUnavailable")
        return self.real.start(name, execution_input)


def test_a_failed_start_is_finished_by_a_redelivery_and_two_starts_of_one_name_are_one_execution(
    ddb: Any, machine: str
) -> None:
    real = StepFunctionsStarter(machine, client=boto3.client("stepfunctions", region_name=REGION))
    d = deps(ddb, machine, FailOnce(real))
    body = github_body(NOW - timedelta(seconds=5))
    assert call(d, event("github", body))[0] == 503 and executions(machine) == []
    status, started = call(d, event("github", body))
    assert status == 202 and len(executions(machine)) == 1
    # Step Functions itself refuses a second execution of the name (the race both deliveries lose
    # to the first): the adapter answers with the existing one, not new.
    again = real.start(f"github-{DELIVERY['github']}", {"other": "input"})
    assert again == Started(started["execution"], new=False) and len(executions(machine)) == 1
