"""`local up`/`down` lifecycle: clear refusals before anything starts, and nothing left running after down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_pipeline.cli.main import app
from mlops_pipeline.local.stack import control, daemon
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.errors import (
    LocalStackError,
    PortTakenError,
    StackRunningError,
    TerraformMissingError,
)
from mlops_pipeline.local.stack.ports import ports_listening
from mlops_pipeline.local.stack.provisioning import LOCAL_ROLLOUTS, harness_rollout, terraform_functions
from mlops_pipeline.local.stack.state import (
    DAEMON_LOG,
    ERROR_FILE,
    StackInfo,
    StackOptions,
    check_models,
    state_file,
)

pytestmark = pytest.mark.functional


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_up_refuses_a_taken_port_before_starting_anything(tmp_path: Path, taken_port: int) -> None:
    options = StackOptions(state_dir=tmp_path, mlflow_port=taken_port)
    with pytest.raises(PortTakenError, match=rf"port {taken_port} .*mlflow.*--mlflow-port"):
        control.up(options, timeout=30)
    assert not (tmp_path / DAEMON_LOG).exists()
    assert not state_file(tmp_path).exists()


def test_cli_up_reports_a_taken_port(tmp_path: Path, taken_port: int) -> None:
    result = CliRunner().invoke(
        app, ["local", "up", "--state-dir", str(tmp_path), "--emulator-port", str(taken_port)]
    )
    assert result.exit_code == 1
    assert f"port {taken_port}" in result.output
    assert "--emulator-port" in result.output


def test_daemon_writes_the_start_failure_for_up(tmp_path: Path, taken_port: int) -> None:
    # The daemon checks too (a port can be taken between `up`'s check and the daemon's bind).
    code = daemon.main(["--state-dir", str(tmp_path), "--slack-port", str(taken_port)])
    assert code == 1
    error = (tmp_path / ERROR_FILE).read_text()
    assert f"port {taken_port}" in error and "slack" in error
    assert not state_file(tmp_path).exists()


def test_up_without_terraform_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERRAFORM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(TerraformMissingError, match="terraform is not installed"):
        control.up(StackOptions(state_dir=tmp_path, terraform=True), timeout=30)
    assert not (tmp_path / DAEMON_LOG).exists()


def fake_info(state_dir: Path, pid: int) -> StackInfo:
    return StackInfo(
        pid=pid,
        state_dir=str(state_dir),
        started_at="2026-01-01T00:00:00+00:00",
        provisioner="harness",
        endpoint_url="http://127.0.0.1:1",
        region="us-east-1",
        credentials={},
        mlflow_url="http://127.0.0.1:2",
        mlflow_pid=None,
        slack_inbox_url="http://127.0.0.1:3/",
        slack_api_url="http://127.0.0.1:3/api/",
        interactions_url="http://127.0.0.1:4/slack/interactions",
        git_remote_url="file:///nowhere",
        repository_name="mlops-models",
        branch="main",
        state_machine_arn="arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline",
        table="mlops-pipeline",
        inference_functions={
            "delivery-time": {"stage": "mlops-delivery-time", "prod": "mlops-delivery-time"}
        },
        channel="C0PIPELINE",
        approvers=["U0APPROVER"],
        ports={},
    )


def fake_state(state_dir: Path, pid: int) -> None:
    info = fake_info(state_dir, pid)
    state_dir.mkdir(parents=True, exist_ok=True)
    info.save(state_file(state_dir))


def test_up_refuses_while_a_stack_is_running(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fake_state(tmp_path, sleeper.pid)
        with pytest.raises(StackRunningError, match=rf"already running .*pid {sleeper.pid}.*local down"):
            control.up(StackOptions(state_dir=tmp_path), timeout=30)
        assert control.status(tmp_path) is not None
        assert oct(os.stat(state_file(tmp_path)).st_mode & 0o777) == "0o600"
        # `down` stops it (SIGTERM) and reports nothing left.
        report = control.down(tmp_path, timeout=10)
        assert report.stopped and report.leftovers == []
        assert not control.pid_alive(sleeper.pid)
    finally:
        sleeper.kill()
    assert control.status(tmp_path) is None


def test_a_stale_state_file_is_not_a_running_stack(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    fake_state(tmp_path, dead.pid)
    assert control.status(tmp_path) is None
    assert not state_file(tmp_path).exists()


def test_up_refuses_a_model_name_terraform_would_refuse_before_starting_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "up", "--state-dir", str(tmp_path), "--model", "churn model"])
    assert result.exit_code == 2
    assert "churn model" in result.output and "--model" in result.output
    with pytest.raises(LocalStackError, match=r"function mlops-x{63} > 64 chars"):
        control.up(StackOptions(state_dir=tmp_path, models=("x" * 63,)), timeout=30)
    assert not (tmp_path / DAEMON_LOG).exists()


def test_the_declared_models_and_their_functions() -> None:
    assert check_models(["delivery-time", "churn.v2", "delivery-time"]) == ("delivery-time", "churn.v2")
    assert StackOptions(state_dir=Path("."), models=("a",)).models == ("a",)
    info = fake_info(Path("."), 1)
    info.inference_functions = {"churn": {"stage": "mlops-churn", "prod": "p-churn"}}
    assert info.models == ["churn"]
    assert info.function_of("churn", "prod") == "p-churn"
    with pytest.raises(
        LocalStackError, match=r"'delivery-time' has no .*declared: churn.*local up --model delivery-time"
    ):
        info.function_of("delivery-time", "stage")


def test_the_daemon_gets_the_models_and_the_rollout_as_arguments(tmp_path: Path) -> None:
    options = StackOptions(
        state_dir=tmp_path.resolve(), models=("churn", "delivery-time"), rollout="all_at_once"
    )
    argv = options.to_argv()
    assert argv.count("--model") == 2 and argv[argv.index("--rollout") + 1] == "all_at_once"
    assert daemon.parse_args(argv) == options
    # No --model: the seed's model; no --rollout: gradual (terraform/live/local's default).
    assert daemon.parse_args(["--state-dir", str(tmp_path)]) == StackOptions(state_dir=tmp_path.resolve())
    assert StackOptions(state_dir=tmp_path).rollout == "gradual"
    with pytest.raises(SystemExit):
        daemon.parse_args(["--state-dir", str(tmp_path), "--rollout", "canary"])


def test_the_rollout_choice_is_terraforms_rollout_and_the_harness_settings() -> None:
    # Terraform's `rollout` (JSON): the local root's default for gradual; no ROLLOUT_* override.
    assert LOCAL_ROLLOUTS["gradual"] == {
        "mode": "gradual",
        "steps": [50, 100],
        "bake_seconds": 10,
        "max_p99_ratio": "off",
        "metrics_delay_seconds": 0,
    }
    assert LOCAL_ROLLOUTS["all_at_once"]["mode"] == "all_at_once"
    # The harness gets the same settings as the ROLLOUT_* the pipeline module renders.
    assert harness_rollout("gradual") == (
        "gradual",
        {"ROLLOUT_STEPS": "50,100", "ROLLOUT_BAKE_SECONDS": "10", "ROLLOUT_MAX_P99_RATIO": "off"},
    )
    assert harness_rollout("all_at_once") == ("all_at_once", {})
    with pytest.raises(LocalStackError, match="rollout must be one of gradual, all_at_once"):
        harness_rollout("canary")


def test_up_refuses_an_unknown_rollout(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "up", "--state-dir", str(tmp_path), "--rollout", "canary"])
    assert result.exit_code == 2 and "--rollout" in result.output
    with pytest.raises(LocalStackError, match="canary"):
        control.up(StackOptions(state_dir=tmp_path, rollout="canary"), timeout=30)
    assert not (tmp_path / DAEMON_LOG).exists()


def test_terraform_outputs_give_each_models_functions() -> None:
    targets = {
        env: {"functions": {"delivery-time": {"function_name": f"{env}-dt"}, "churn": {"function_name": "c"}}}
        for env in ("stage", "prod")
    }
    assert terraform_functions(targets, ("churn", "delivery-time")) == {
        "churn": {"stage": "c", "prod": "c"},
        "delivery-time": {"stage": "stage-dt", "prod": "prod-dt"},
    }
    with pytest.raises(LocalStackError, match=r"no stage function for model 'other'.*`models`"):
        terraform_functions(targets, ("other",))


def test_status_of_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "no local stack is running" in result.output
    assert control.down(tmp_path).stopped is False


@pytest.mark.slow
def test_up_status_down_leaves_nothing_running(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Two declared models (`local up --model`): the daemon gets them and makes a function for each.
    info = control.up(StackOptions(state_dir=state, models=("delivery-time", "churn.v2")), timeout=240)
    try:
        assert control.pid_alive(info.pid) and control.pid_alive(info.mlflow_pid)
        ports = list(info.ports.values())
        assert sorted(ports_listening(ports)) == sorted(ports)
        saved = json.loads(state_file(state).read_text())
        assert saved["pid"] == info.pid and saved["provisioner"] == "harness"
        status = CliRunner().invoke(app, ["local", "status", "--state-dir", str(state)])
        assert status.exit_code == 0, status.output
        assert info.mlflow_url in status.output and info.slack_inbox_url in status.output
        again = CliRunner().invoke(app, ["local", "up", "--state-dir", str(state)])
        assert again.exit_code == 1 and "already running" in again.output
        # The stack answers: the pipeline is provisioned in the tooling account.
        client = StackClient(info)
        machine = client.client("stepfunctions").describe_state_machine(
            stateMachineArn=info.state_machine_arn
        )
        assert machine["name"] == "mlops-pipeline"
        assert info.inference_functions == {
            "delivery-time": {"stage": "mlops-delivery-time", "prod": "mlops-delivery-time"},
            "churn.v2": {"stage": "mlops-churn-v2", "prod": "mlops-churn-v2"},
        }
        for environment in ("stage", "prod"):
            lam = client.client("lambda", environment)
            for function in ("mlops-delivery-time", "mlops-churn-v2"):
                assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "1"
        assert "model churn.v2" in status.output and "mlops-churn-v2" in status.output
        # Prod rolls out gradually by default, as terraform/live/local's `rollout` does.
        assert info.rollout == "gradual" and "prod rollout" in status.output
        deploy_prod = client.client("lambda").get_function_configuration(FunctionName="mlops-deploy-prod")
        variables = deploy_prod["Environment"]["Variables"]
        assert variables["ROLLOUT_MODE"] == "gradual" and variables["ROLLOUT_STEPS"] == "50,100"
        assert variables["ROLLOUT_BAKE_SECONDS"] == "10" and variables["ROLLOUT_METRICS_DELAY_SECONDS"] == "0"
        assert client.inbox()["interactions_url"] == info.interactions_url
    finally:
        result = CliRunner().invoke(app, ["local", "down", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "free" in result.output
    assert not control.pid_alive(info.pid)
    assert not control.pid_alive(info.mlflow_pid)
    assert ports_listening(list(info.ports.values())) == []
    assert not state_file(state).exists()
