"""Execution status changes -> SNS -> the notify Lambda, wired as Terraform's ``events.tf`` does.

An EventBridge rule on ``aws.states`` "Step Functions Execution Status Change" events of the
pipeline's state machines targets the pipeline's SNS topic, to which the notify function is
subscribed (with the permission for SNS to invoke it). The emulator delivers the whole chain
(``local/emulator/events.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from mlops_pipeline.local.emulator.emulator import Emulator

DETAIL_TYPE = "Step Functions Execution Status Change"


def route_status_changes(
    emu: Emulator, prefix: str, state_machine_arns: Sequence[str], notify_function_arn: str
) -> str:
    """Create the topic, the subscription and the rule, or update the rule to watch
    ``state_machine_arns`` (idempotent); returns the topic ARN."""
    sns, events, lam = emu.client("sns"), emu.client("events"), emu.client("lambda")
    topic = str(sns.create_topic(Name=f"{prefix}-pipeline-events")["TopicArn"])
    subscribed = {
        s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])
    }
    if notify_function_arn not in subscribed:
        lam.add_permission(
            FunctionName=notify_function_arn,
            StatementId="AllowPipelineTopic",
            Action="lambda:InvokeFunction",
            Principal="sns.amazonaws.com",
            SourceArn=topic,
        )
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=notify_function_arn)
    rule = f"{prefix}-pipeline-status"
    pattern = {
        "source": ["aws.states"],
        "detail-type": [DETAIL_TYPE],
        "detail": {"stateMachineArn": list(state_machine_arns)},
    }
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern), Description="Status changes of the pipeline")
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": topic}])
    return topic
