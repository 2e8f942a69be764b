"""Lifecycle: stop() leaves no listening port, no thread and no moto state behind."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator, EmulatorError

pytestmark = pytest.mark.functional


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_stop_frees_the_port_and_the_thread(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    emu = Emulator(tmp_path / "state")
    emu.start()
    port = emu.port
    assert port != 0
    assert _listening(port)
    emu.client("s3").create_bucket(Bucket="left-behind")
    role = emu.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    waiting = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 120, "End": true}}}'
    sfn = emu.client("stepfunctions")
    machine = sfn.create_state_machine(name="waits", definition=waiting, roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    emu.stop()

    assert not _listening(port)
    deadline = time.monotonic() + 5  # a stopped execution's thread needs a moment to unwind
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    while leftover and time.monotonic() < deadline:
        time.sleep(0.1)
        leftover = [t for t in leftover if t.is_alive()]
    assert leftover == []
    with pytest.raises(EmulatorError, match="not running"):
        _ = emu.endpoint_url
    # A new emulator starts from empty backends.
    with Emulator(tmp_path / "state2") as fresh:
        assert fresh.client("s3").list_buckets()["Buckets"] == []


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]

        with pytest.raises(EmulatorError, match=f"cannot serve on 127.0.0.1:{busy}"):
            Emulator(tmp_path, port=busy).start()

    # The failed start left nothing active: the next emulator starts.
    with Emulator(tmp_path / "next") as emu:
        assert emu.client("sts").get_caller_identity()["Account"] == "111111111111"
