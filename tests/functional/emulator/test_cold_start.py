"""Measures the cold-start overhead of the subprocess runtime (run with -s to see the figures)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

TRIVIAL = "def handler(event, context):\n    return event\n"
HEAVY = (
    "import boto3\n"
    "from aws_lambda_powertools import Logger\n"
    "logger = Logger(service='probe')\n\n"
    "@logger.inject_lambda_context\n"
    "def handler(event, context):\n"
    "    return event\n"
)


def _median_invoke_ms(emu: Emulator, name: str, rounds: int = 3) -> float:
    lam = emu.client("lambda")
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"i": i}))
        samples.append((time.perf_counter() - started) * 1000)
        assert "FunctionError" not in response, response["Payload"].read()
        assert json.loads(response["Payload"].read()) == {"i": i}
    return statistics.median(samples)


def test_cold_invoke_overhead(emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]) -> None:
    create_zip_function("trivial", {"app.py": TRIVIAL})
    create_zip_function("heavy", {"app.py": HEAVY})
    _median_invoke_ms(emulator, "trivial", rounds=1)  # first extraction of each package is not overhead
    _median_invoke_ms(emulator, "heavy", rounds=1)

    trivial = _median_invoke_ms(emulator, "trivial")
    heavy = _median_invoke_ms(emulator, "heavy")

    print(
        f"\ncold invoke (fresh process each time), median of 3: trivial {trivial:.0f} ms, "
        f"boto3 + aws_lambda_powertools {heavy:.0f} ms"
    )
    # Generous bounds on a shared 2-core machine; they catch a runtime that hangs or re-extracts.
    assert trivial < 5_000
    assert heavy < 10_000
