"""The demo's traffic generator against the emulator: idle while prod's ``live`` routes to one
version, requests counted per ExecutedVersion (and errors) while it routes to two."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import ACCOUNTS, Emulator
from mlops_pipeline.local.stack.demo_traffic import TrafficGenerator
from mlops_pipeline.local.stack.state import StackInfo

pytestmark = pytest.mark.functional

FUNCTION = "mlops-traffic"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
GOOD = "def handler(event, context):\n    return {'v': context.function_version}\n"
BAD = "def handler(event, context):\n    raise RuntimeError('v2 is broken')\n"


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def deploy_two_versions(emulator: Emulator) -> tuple[str, str]:
    """v1 answers, v2 fails every request."""
    role = emulator.client("iam", "prod").create_role(RoleName="traffic-role", AssumeRolePolicyDocument=TRUST)
    lam = emulator.client("lambda", "prod")
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(GOOD)},
        Timeout=10,
    )
    v1 = lam.publish_version(FunctionName=FUNCTION)["Version"]
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=_zip(BAD))
    return str(v1), str(lam.publish_version(FunctionName=FUNCTION)["Version"])


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tmp_path_factory.mktemp("emulator-state")) as emu:
        yield emu


def stack_info(emu: Emulator, state: Path) -> StackInfo:
    fields: dict[str, Any] = {name: "" for name in StackInfo.__dataclass_fields__}
    fields.update(
        pid=1,
        state_dir=str(state),
        mlflow_pid=None,
        endpoint_url=emu.endpoint_url,
        region=emu.region,
        credentials={name: emu.credentials(name) for name in ACCOUNTS},
        approvers=[],
        ports={},
        timings={},
        inference_functions={"m": {"stage": FUNCTION, "prod": FUNCTION}},
    )
    return StackInfo(**fields)


def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_requests_go_to_live_only_while_it_routes_to_two_versions(emulator: Emulator, tmp_path: Path) -> None:
    v1, v2 = deploy_two_versions(emulator)
    lam = emulator.client("lambda", "prod")
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=v1)
    with TrafficGenerator(stack_info(emulator, tmp_path), "m", pause=0.05) as traffic:
        traffic.request = {"inputs": [{"x": 1.0}]}
        time.sleep(1.5)
        assert traffic.snapshot().total == 0  # one version behind live: no bake, no traffic
        lam.update_alias(
            FunctionName=FUNCTION, Name="live", RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}}
        )
        until(lambda: min(traffic.snapshot().served[v] for v in (v1, v2)) >= 2)
        lam.update_alias(FunctionName=FUNCTION, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
        time.sleep(3.0)  # a request in flight when the weights went may still land
        settled = traffic.snapshot().total
        time.sleep(1.5)
        count = traffic.snapshot()
    assert traffic.error == ""
    assert count.total == settled  # idle again once live routes to one version
    assert count.weights == [50] and count.new_version == v2
    assert count.failed[v2] == count.served[v2] and count.failed[v1] == 0
    assert f"at 50 % to v{v2}" in count.text()
