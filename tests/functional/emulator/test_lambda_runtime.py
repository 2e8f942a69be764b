"""The Lambda runtime: deployed code in a subprocess, with the role's credentials."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.emulator.image_store import ImageStore

pytestmark = pytest.mark.functional

WHOAMI = """
import os
import boto3

print("hello from the function")

def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    return {
        "greeting": os.environ["GREETING"],
        "account": identity["Account"],
        "arn": identity["Arn"],
        "event": event,
        "function_name": context.function_name,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 10_000,
        "leaked": sorted(k for k in os.environ if k.startswith("PYTEST") or k == "VIRTUAL_ENV"),
    }
"""


def _invoke(
    emu: Emulator, name: str, payload: Any, account: str = "tooling", **kwargs: Any
) -> dict[str, Any]:
    response = emu.client("lambda", account).invoke(FunctionName=name, Payload=json.dumps(payload), **kwargs)
    response["Body"] = json.loads(response["Payload"].read())
    return dict(response)


def test_zip_function_runs_with_its_env_and_role_account(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    create_zip_function("whoami", {"app.py": WHOAMI}, account="stage", env={"GREETING": "hi"})

    response = _invoke(emulator, "whoami", {"n": 1}, account="stage", LogType="Tail")

    assert "FunctionError" not in response
    body = response["Body"]
    assert body["greeting"] == "hi"
    assert body["account"] == "222222222222"
    assert ":assumed-role/fn-role/" in body["arn"]
    assert body["event"] == {"n": 1}
    assert body["function_name"] == "whoami"
    assert body["remaining_ok"] is True
    assert body["leaked"] == []
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "hello from the function" in tail
    log_file = emulator.state_dir / "logs" / "lambda" / "whoami.log"
    assert "hello from the function" in log_file.read_text()


def test_unhandled_error_is_reported_like_lambda(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    source = "class SmokeTestFailedError(Exception):\n    pass\n\n" + (
        "def handler(event, context):\n    raise SmokeTestFailedError('latency 9000 ms > 3000 ms')\n"
    )
    create_zip_function("fails", {"app.py": source})

    response = _invoke(emulator, "fails", {})

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "SmokeTestFailedError"
    assert response["Body"]["errorMessage"] == "latency 9000 ms > 3000 ms"
    assert any("app.py" in frame for frame in response["Body"]["stackTrace"])


def test_timeout_kills_the_function_and_its_children(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    source = (
        "import subprocess, sys, time\n\n"
        "def handler(event, context):\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "    open(event['pidfile'], 'w').write(str(child.pid))\n"
        "    time.sleep(5)\n"
        "    return 'late'\n"
    )
    create_zip_function("sleepy", {"app.py": source}, timeout=1)
    pidfile = tmp_path / "child.pid"

    started = time.monotonic()
    response = _invoke(emulator, "sleepy", {"pidfile": str(pidfile)})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in response["Body"]["errorMessage"]
    assert elapsed < 3.5  # the handler sleeps 5 s: well under it, with slack for a loaded machine
    assert not _running(int(pidfile.read_text()))


def _running(pid: int) -> bool:
    """True if the process exists and is not a zombie waiting for a reaper."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False
        if "\nState:\tZ" in status:
            return False
        time.sleep(0.05)
    return True


def test_image_function_runs_from_the_image_store(emulator: Emulator, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "var" / "task" / "serving").mkdir(parents=True)
    (rootfs / "var" / "task" / "serving" / "__init__.py").write_text("")
    (rootfs / "var" / "task" / "serving" / "handler.py").write_text(
        "import os\n\ndef handler(event, context):\n"
        "    return {'model': os.environ['MODEL_VERSION'], 'stage': os.environ['STAGE'], 'x': event['x'] * 2}\n"
    )
    image_uri = "222222222222.dkr.ecr.us-east-1.amazonaws.com/serving:v7"
    image = ImageStore(emulator.state_dir / "images").push(
        image_uri, rootfs, cmd=["serving.handler.handler"], env={"MODEL_VERSION": "7", "STAGE": "image"}
    )
    lam = emulator.client("lambda", "stage")
    created = lam.create_function(
        FunctionName="inference",
        Role=_role(emulator, "stage"),
        PackageType="Image",
        Code={"ImageUri": image_uri},
        Environment={"Variables": {"STAGE": "function"}},  # function env wins over the image's
    )

    response = _invoke(emulator, "inference", {"x": 21}, account="stage")

    assert response["Body"] == {"model": "7", "stage": "function", "x": 42}
    assert created["CodeSha256"] == image.digest.removeprefix("sha256:")


def _role(emu: Emulator, account: str) -> str:
    iam = emu.client("iam", account)
    try:
        return str(iam.get_role(RoleName="fn-role")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def test_event_invocation_runs_in_the_background(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    source = (
        "import boto3\n\n"
        "def handler(event, context):\n"
        "    boto3.client('ssm').put_parameter(Name='/test/event', Value=event['v'], Type='String')\n"
    )
    create_zip_function("on-event", {"app.py": source})

    response = emulator.client("lambda").invoke(
        FunctionName="on-event", InvocationType="Event", Payload=json.dumps({"v": "delivered"})
    )

    assert response["StatusCode"] == 202
    assert emulator.wait_for_async_invocations(timeout=20)
    assert emulator.client("ssm").get_parameter(Name="/test/event")["Parameter"]["Value"] == "delivered"


def test_sns_delivery_runs_the_subscribed_function(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    source = (
        "import boto3\n\n"
        "def handler(event, context):\n"
        "    message = event['Records'][0]['Sns']['Message']\n"
        "    boto3.client('ssm').put_parameter(Name='/test/sns', Value=message, Type='String')\n"
    )
    fn_arn = create_zip_function("notify", {"app.py": source})["FunctionArn"]
    sns = emulator.client("sns")
    topic = sns.create_topic(Name="status")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)

    sns.publish(TopicArn=topic, Message="execution succeeded")

    # SNS invokes Lambda asynchronously (the events extension makes moto do so too).
    assert _wait_for_parameter(emulator, "/test/sns") == "execution succeeded"


def test_a_package_shipping_mlops_pipeline_runs_its_own_copy(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    files = {
        "mlops_pipeline/__init__.py": "SHIPPED = True\n",
        "mlops_pipeline/handlers/__init__.py": "",
        "mlops_pipeline/handlers/probe.py": (
            "import mlops_pipeline\n\n"
            "def handler(event, context):\n"
            "    return {'shipped': getattr(mlops_pipeline, 'SHIPPED', False), 'file': mlops_pipeline.__file__}\n"
        ),
    }
    create_zip_function("shipped", files, handler="mlops_pipeline.handlers.probe.handler")

    response = _invoke(emulator, "shipped", {})

    assert response["Body"]["shipped"] is True
    assert response["Body"]["file"].startswith(str(emulator.state_dir / "lambda" / "code"))


def test_missing_handler_module_is_an_import_error(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]]
) -> None:
    create_zip_function("no-module", {"app.py": "x = 1\n"}, handler="nothere.handler")

    response = _invoke(emulator, "no-module", {})

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.ImportModuleError"
    assert "nothere" in response["Body"]["errorMessage"]


def _wait_for_parameter(emu: Emulator, name: str, timeout: float = 20.0) -> str:
    ssm = emu.client("ssm")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            time.sleep(0.1)
    raise AssertionError(f"no function wrote {name} within {timeout} s")


def test_the_answer_does_not_wait_for_the_interpreter_to_shut_down(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    # Lambda answers when the handler returns (the container is frozen, not torn down): a slow
    # teardown - here an atexit hook sleeping 10 s - must not delay the caller.
    marker = tmp_path / "teardown-ran"
    source = (
        "import atexit, pathlib, time\n\n"
        "def teardown(path):\n"
        "    time.sleep(10)\n"
        "    pathlib.Path(path).touch()\n\n"
        "def handler(event, context):\n"
        "    atexit.register(teardown, event['marker'])\n"
        "    print('handler done')\n"
        "    return {'answered': True}\n"
    )
    create_zip_function("slow-teardown", {"app.py": source}, timeout=30)

    started = time.monotonic()
    response = _invoke(emulator, "slow-teardown", {"marker": str(marker)}, LogType="Tail")
    elapsed = time.monotonic() - started

    assert "FunctionError" not in response
    assert response["Body"] == {"answered": True}
    assert elapsed < 6  # well under the 10 s teardown, with slack for a loaded machine
    assert "handler done" in base64.b64decode(response["LogResult"]).decode()  # the logs are complete
    assert not marker.exists()


def test_the_deployed_code_gets_no_bytecode(
    emulator: Emulator, create_zip_function: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # /var/task is read-only on Lambda: a package without .pyc compiles on every cold start, and
    # the extracted package stays what was deployed, whatever the emulator's own environment says.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    files = {
        "app.py": "import helper\n\ndef handler(event, context):\n    return helper.VALUE\n",
        "helper.py": "VALUE = 'from a module the handler imports'\n",
    }
    created = create_zip_function("no-bytecode", files)

    response = _invoke(emulator, "no-bytecode", {})

    assert response["Body"] == "from a module the handler imports"
    task_root = emulator.state_dir / "lambda" / "code" / base64.b64decode(created["CodeSha256"]).hex()
    assert (task_root / "helper.py").is_file()
    assert sorted(p.name for p in task_root.iterdir()) == ["app.py", "helper.py"]
