"""EventBridge delivery (Step Functions, SNS) and the local git remote's CodeCommit event."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.emulator import events
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.git_remote import LocalGitRemote

pytestmark = pytest.mark.functional

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
SFN_ROLE = "arn:aws:iam::111111111111:role/sfn"


def _eventually(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _queue(emulator: Emulator, name: str) -> tuple[Any, str, str]:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def test_git_push_starts_the_execution_with_the_transformed_input(
    emulator: Emulator, tmp_path: Path, run_git: Any
) -> None:
    git = run_git
    sfn, eb = emulator.client("stepfunctions"), emulator.client("events")
    machine = sfn.create_state_machine(name="on-push", definition=PASS_MACHINE, roleArn=SFN_ROLE)[
        "stateMachineArn"
    ]
    remote = LocalGitRemote(tmp_path / "remote", repository_name="models-push")
    remote.configure(emulator.endpoint_url, emulator.credentials("tooling"))
    eb.put_rule(
        Name="on-push",
        EventPattern=json.dumps(
            {
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [remote.arn],
                "detail": {
                    "event": ["referenceCreated", "referenceUpdated"],
                    "referenceType": ["branch"],
                    "referenceName": ["main"],
                },
            }
        ),
    )
    eb.put_targets(
        Rule="on-push",
        Targets=[
            {
                "Id": "pipeline",
                "Arn": machine,
                "RoleArn": SFN_ROLE,
                "InputTransformer": {
                    "InputPathsMap": {
                        "commit": "$.detail.commitId",
                        "repository": "$.detail.repositoryName",
                        "branch": "$.detail.referenceName",
                        "author": "$.detail.callerUserArn",
                    },
                    "InputTemplate": '{"commit": "<commit>", "repository": "<repository>", '
                    '"branch": "<branch>", "author": "<author>"}',
                },
            }
        ],
    )
    work = tmp_path / "clone"
    git(tmp_path, "clone", "-q", remote.url, str(work))
    git(work, "checkout", "-q", "-b", "main")
    (work / "train.py").write_text("print('v1')\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "v1")
    git(work, "push", "-q", "origin", "main")
    first = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/feature")  # other branch: no execution
    (work / "train.py").write_text("print('v2')\n")
    git(work, "commit", "-q", "-am", "v2")
    git(work, "push", "-q", "origin", "main")
    second = git(work, "rev-parse", "HEAD")

    executions = _eventually(
        lambda: (
            (found := sfn.list_executions(stateMachineArn=machine)["executions"])
            and len(found) >= 2
            and found
        )
    )
    events.wait_for_deliveries()
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 2
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    author = "arn:aws:iam::111111111111:user/emulator-admin"
    assert sorted(inputs, key=lambda i: i["commit"] != first) == [
        {"commit": first, "repository": "models-push", "branch": "main", "author": author},
        {"commit": second, "repository": "models-push", "branch": "main", "author": author},
    ]


def test_hook_failure_does_not_fail_the_push(emulator: Emulator, tmp_path: Path, run_git: Any) -> None:
    git = run_git
    remote = LocalGitRemote(tmp_path / "remote", repository_name="models-down")
    remote.configure("http://127.0.0.1:9", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    work = tmp_path / "clone"
    git(tmp_path, "clone", "-q", remote.url, str(work))
    (work / "f").write_text("x")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "x")
    started = time.monotonic()
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    assert time.monotonic() - started < 15
    assert git(tmp_path, "--git-dir", str(remote.path), "rev-parse", "main") == git(work, "rev-parse", "HEAD")
    log = Path(json.loads((remote.path / "mlops-remote.json").read_text())["log_file"]).read_text()
    assert "could not emit the CodeCommit event" in log


def test_put_events_reaches_an_sns_subscribed_queue(emulator: Emulator) -> None:
    sns, eb = emulator.client("sns"), emulator.client("events")
    topic = sns.create_topic(Name="notify")["TopicArn"]
    sqs, url, queue_arn = _queue(emulator, "notify-sub")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    eb.put_rule(
        Name="to-sns",
        EventPattern=json.dumps(
            {
                "source": [{"prefix": "custom."}],
                "detail": {"status": [{"anything-but": "RUNNING"}], "x": [{"exists": True}]},
            }
        ),
    )
    eb.put_targets(Rule="to-sns", Targets=[{"Id": "topic", "Arn": topic}])

    for status in ("RUNNING", "FAILED"):
        eb.put_events(
            Entries=[
                {"Source": "custom.test", "DetailType": "t", "Detail": json.dumps({"status": status, "x": 1})}
            ]
        )
    eb.put_events(
        Entries=[{"Source": "custom.test", "DetailType": "t", "Detail": json.dumps({"status": "FAILED"})}]
    )
    events.wait_for_deliveries()

    messages = _eventually(lambda: _receive(sqs, url))
    assert len(messages) == 1
    event = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert event["detail"] == {"status": "FAILED", "x": 1}
    assert event["source"] == "custom.test" and event["account"] == "111111111111"
    assert event["time"].endswith("Z")
    assert not [f for f in events.failed_deliveries() if "to-sns" in f.rule_arn]


def test_execution_status_change_is_emitted(emulator: Emulator) -> None:
    sfn, eb = emulator.client("stepfunctions"), emulator.client("events")
    machine = sfn.create_state_machine(name="watched", definition=PASS_MACHINE, roleArn=SFN_ROLE)[
        "stateMachineArn"
    ]
    sqs, url, queue_arn = _queue(emulator, "status-changes")
    eb.put_rule(
        Name="status",
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"stateMachineArn": [machine], "status": ["SUCCEEDED", "FAILED"]},
            }
        ),
    )
    eb.put_targets(Rule="status", Targets=[{"Id": "q", "Arn": queue_arn, "InputPath": "$.detail"}])

    execution = sfn.start_execution(stateMachineArn=machine, name=str(uuid.uuid4()), input='{"a": 1}')[
        "executionArn"
    ]

    messages = _eventually(lambda: _receive(sqs, url))
    detail = json.loads(messages[0]["Body"])
    assert detail["executionArn"] == execution
    assert detail["status"] == "SUCCEEDED"
    assert json.loads(detail["output"]) == {"a": 1}
    assert detail["stopDate"] >= detail["startDate"]


def test_undeliverable_target_is_recorded_not_a_500(emulator: Emulator) -> None:
    eb = emulator.client("events")
    eb.put_rule(Name="broken", EventPattern=json.dumps({"source": ["custom.broken"]}))
    missing = "arn:aws:states:us-east-1:111111111111:stateMachine:does-not-exist"
    eb.put_targets(Rule="broken", Targets=[{"Id": "gone", "Arn": missing}])

    response = eb.put_events(Entries=[{"Source": "custom.broken", "DetailType": "t", "Detail": "{}"}])
    events.wait_for_deliveries()

    assert response["FailedEntryCount"] == 0
    assert [f.target_arn for f in events.failed_deliveries() if f.rule_arn.endswith("rule/broken")] == [
        missing
    ]


def test_input_template_escapes_strings_and_inserts_json() -> None:
    rendered = events.render_template(
        '{"text": "said <q>", "obj": <obj>, "missing": <nothing>}',
        {"q": 'a "quote"', "obj": {"k": [1]}, "nothing": None},
    )
    assert json.loads(rendered) == {"text": 'said a "quote"', "obj": {"k": [1]}, "missing": None}


def _function(emulator: Emulator, name: str, source: str, env: dict[str, str] | None = None) -> str:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    iam = emulator.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    return str(
        emulator.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
            Environment={"Variables": env or {}},
        )["FunctionArn"]
    )


def test_put_events_reaches_an_sns_subscribed_lambda(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "received.json"
    function = _function(
        emulator,
        "sns-subscriber",
        "import json, os\n"
        "def handler(event, context):\n"
        "    with open(os.environ['OUT'], 'w') as fh:\n"
        "        json.dump(event, fh)\n",
        {"OUT": str(out)},
    )
    sns, eb = emulator.client("sns"), emulator.client("events")
    topic = sns.create_topic(Name="notify-lambda")["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"]
    eb.put_rule(Name="to-lambda-topic", EventPattern=json.dumps({"source": ["custom.lambda"]}))
    eb.put_targets(Rule="to-lambda-topic", Targets=[{"Id": "topic", "Arn": topic}])

    eb.put_events(Entries=[{"Source": "custom.lambda", "DetailType": "t", "Detail": json.dumps({"n": 1})}])

    received = _eventually(lambda: out.exists() and out.read_text() and json.loads(out.read_text()))
    record = received["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == subscription
    assert record["Sns"]["TopicArn"] == topic
    assert json.loads(record["Sns"]["Message"])["detail"] == {"n": 1}


def test_stopping_a_run_that_waits_for_a_token_aborts_it_and_notifies_through_sns(
    emulator: Emulator, tmp_path: Path
) -> None:
    """StopExecution -> ABORTED at once -> status event -> EventBridge rule -> SNS -> Lambda."""
    out = tmp_path / "status-events.jsonl"
    subscriber = _function(
        emulator,
        "status-subscriber",
        "import json, os\n"
        "def handler(event, context):\n"
        "    with open(os.environ['OUT'], 'a') as fh:\n"
        "        fh.write(json.dumps(event) + '\\n')\n",
        {"OUT": str(out)},
    )
    waiter = _function(emulator, "token-waiter", "def handler(event, context):\n    return {}\n")
    sfn, sns, eb = emulator.client("stepfunctions"), emulator.client("sns"), emulator.client("events")
    definition = {
        "StartAt": "WaitForApproval",
        "States": {
            "WaitForApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": waiter, "Payload": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 600,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    machine = sfn.create_state_machine(name="waits", definition=json.dumps(definition), roleArn=SFN_ROLE)[
        "stateMachineArn"
    ]
    topic = sns.create_topic(Name="pipeline-status")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=subscriber)
    eb.put_rule(
        Name="waits-status",
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"stateMachineArn": [machine]},
            }
        ),
    )
    eb.put_targets(Rule="waits-status", Targets=[{"Id": "topic", "Arn": topic}])
    execution = sfn.start_execution(stateMachineArn=machine, name="stopped-while-waiting")["executionArn"]

    def history() -> list[str]:
        return [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]

    _eventually(lambda: "TaskSubmitted" in history())
    began = time.monotonic()
    sfn.stop_execution(executionArn=execution, error="Stopped", cause="by an operator")

    _eventually(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", timeout=10)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert time.monotonic() - began < 10  # not after the task's 600 s timeout
    assert history()[-1] == "ExecutionAborted"
    assert "Caught" not in str(sfn.get_execution_history(executionArn=execution)["events"])

    def statuses() -> list[str]:
        if not out.exists():
            return []
        lines = [json.loads(line) for line in out.read_text().splitlines() if line]
        return [json.loads(e["Records"][0]["Sns"]["Message"])["detail"]["status"] for e in lines]

    _eventually(lambda: "ABORTED" in statuses())
    assert sorted(statuses()) == ["ABORTED", "RUNNING"]


def test_the_harness_routes_status_changes_to_notify(emulator: Emulator, tmp_path: Path) -> None:
    """route_status_changes (the harness' copy of Terraform's events.tf): rule -> topic -> function."""
    from mlops_pipeline.local.stack.status_events import route_status_changes

    out = tmp_path / "notify-events.jsonl"
    notify = _function(
        emulator,
        "fake-notify",
        "import json, os\n"
        "def handler(event, context):\n"
        "    with open(os.environ['OUT'], 'a') as fh:\n"
        "        fh.write(event['Records'][0]['Sns']['Message'] + '\\n')\n",
        {"OUT": str(out)},
    )
    sfn = emulator.client("stepfunctions")
    first, second = (
        sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=SFN_ROLE)["stateMachineArn"]
        for name in ("routed-1", "routed-2")
    )
    topic = route_status_changes(emulator, "routed", [first], notify)
    assert route_status_changes(emulator, "routed", [first, second], notify) == topic  # idempotent
    subscriptions = emulator.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Endpoint"] for s in subscriptions] == [notify]

    runs = [
        sfn.start_execution(stateMachineArn=arn, name=str(uuid.uuid4()))["executionArn"]
        for arn in (first, second)
    ]

    def finished() -> set[tuple[str, str]]:
        lines = out.read_text().splitlines() if out.exists() else []
        details = [json.loads(line)["detail"] for line in lines]
        return {(d["executionArn"], d["status"]) for d in details if d["status"] != "RUNNING"}

    assert _eventually(lambda: len(finished()) == 2 and finished()) == {(run, "SUCCEEDED") for run in runs}
