"""The push rule's input: the local stack's and Terraform's give the pipeline the same trusted facts."""

import json
import re
from pathlib import Path

from mlops_pipeline.domain.trigger import pushed_at, trigger_author
from mlops_pipeline.local.emulator.events import target_input
from mlops_pipeline.local.stack.harness import PUSH_INPUT_TRANSFORMER

ROOT = Path(__file__).resolve().parents[2]
EVENT = {
    "version": "0",
    "id": "e1",
    "detail-type": "CodeCommit Repository State Change",
    "source": "aws.codecommit",
    "time": "2026-11-26T12:00:00Z",
    "detail": {
        "event": "referenceUpdated",
        "commitId": "c0ffee",
        "repositoryName": "models",
        "referenceName": "main",
        "callerUserArn": "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_DS_0a/dana@example.com",
        "authorEmail": "not-in-the-event-anyway@example.com",
    },
}


def test_the_local_push_rule_passes_the_caller_and_the_event_time() -> None:
    target = {"Id": "pipeline", "Arn": "arn:aws:states:::x", "InputTransformer": PUSH_INPUT_TRANSFORMER}
    trigger = json.loads(target_input(target, EVENT, "arn:rule", "rule"))
    assert trigger == {
        "commit": "c0ffee",
        "repository": "models",
        "branch": "main",
        "author": EVENT["detail"]["callerUserArn"],  # type: ignore[index]
        "pushed_at": "2026-11-26T12:00:00Z",
    }
    assert trigger_author(trigger).endswith("/dana@example.com")
    assert pushed_at(trigger) is not None


def test_terraform_builds_the_same_input() -> None:
    events_tf = (ROOT / "terraform" / "modules" / "pipeline" / "events.tf").read_text()
    block = events_tf[events_tf.index("input_transformer {") :]
    paths = dict(re.findall(r'^\s*(\w+)\s*=\s*"(\$[^"]+)"', block[: block.index("input_template")], re.M))
    assert paths == PUSH_INPUT_TRANSFORMER["InputPathsMap"]
    template = block[block.index("<<-EOT") + len("<<-EOT") : block.index("EOT", block.index("<<-EOT") + 6)]
    assert json.loads(re.sub(r"<(\w+)>", r'"\1"', template)) == {k: k for k in paths}
