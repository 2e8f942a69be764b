"""The Lambda runtime's fault switch: an invocation answers an error, before or after its code ran."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.emulator.lambda_faults import LambdaFault

pytestmark = pytest.mark.functional

# Counts its runs in a file, so the test sees whether the code ran behind the fault.
COUNTER = """
import os, pathlib

def handler(event, context):
    path = pathlib.Path(event["counter"])
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return {"count": count}
"""


def _invoke(emu: Emulator, name: str, payload: Any) -> dict[str, Any]:
    response = emu.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload))
    return {"error": response.get("FunctionError"), "body": json.loads(response["Payload"].read())}


def test_a_fault_replaces_the_run_or_its_answer_and_ends_when_told(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    create_zip_function("counted", {"app.py": COUNTER})
    event = {"counter": str(tmp_path / "count")}
    faults = emulator.lambda_faults

    faults.set("counted", LambdaFault(), times=1)  # the code never starts
    first = _invoke(emulator, "counted", event)
    assert first["error"] == "Unhandled" and first["body"]["errorType"] == "Runtime.ExitError"
    assert not (tmp_path / "count").exists()
    assert _invoke(emulator, "counted", event) == {"error": None, "body": {"count": 1}}  # times=1 is over

    faults.set("counted", LambdaFault("Lambda.ServiceException", "lost", after_run=True))
    for _ in range(2):  # until cleared: the code runs, its answer is lost
        lost = _invoke(emulator, "counted", event)
        assert lost["error"] == "Unhandled" and lost["body"]["errorType"] == "Lambda.ServiceException"
    assert (tmp_path / "count").read_text() == "3"
    assert faults.hits["counted"] == 3
    faults.clear("counted")
    assert _invoke(emulator, "counted", event) == {"error": None, "body": {"count": 4}}
    log = (emulator.state_dir / "logs" / "lambda" / "counted.log").read_text()
    assert "Lambda.ServiceException" in log
    with pytest.raises(ValueError, match="at least 1"):
        faults.set("counted", LambdaFault(), times=0)
