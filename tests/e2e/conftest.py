"""The e2e tier: the local stack as a user starts it (`local up`'s background process), one per package.

It declares two models (seed_code/'s and a second one), each with its own inference functions.
Provisioning is ``terraform apply`` of terraform/live/local when terraform and the AWS provider
(mirror) are available, else the boto3 harness; ``MLOPS_E2E_PROVISIONER=terraform|harness``
forces one. Starting the stack takes ~2.5 min with Terraform and ~40 s with the harness on a
2-core machine, so the cases share one stack; each reads the aliases it compares against
before it pushes. The stack is stopped at the end and nothing may remain.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from rich.console import Console

from mlops_pipeline import tf
from mlops_pipeline.local.stack import control, demo
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.ports import ports_listening
from mlops_pipeline.local.stack.state import StackInfo, StackOptions

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "seed_code"
SEED_MODEL = "delivery-time"  # seed_code/mlops.toml [model] name
# The second declared model: seed_code/ under another name with 3 neighbours (as cheap to train),
# so each model's functions, champion and answers can be told apart.
SECOND_MODEL = "transit-days"


@dataclass
class Run:
    execution: str
    commit: str
    view: demo.RunView
    result: demo.DemoResult
    log: str


@dataclass
class E2E:
    client: StackClient
    tmp: Path

    def decide_with_cli(self, execution: str, decision: str, timeout: float) -> None:
        from typer.testing import CliRunner

        from mlops_pipeline.cli.main import app

        deadline = time.monotonic() + timeout
        while self.client.approval_card(execution) is None:
            status = self.client.client("stepfunctions").describe_execution(executionArn=execution)["status"]
            assert status == "RUNNING", f"{execution} ended {status} before asking for approval"
            assert time.monotonic() < deadline, "no approval card"
            time.sleep(1)
        name = execution.rsplit(":", 1)[-1]
        result = CliRunner().invoke(app, ["local", decision, name[:8], "--state-dir", self.info.state_dir])
        assert result.exit_code == 0, result.output
        assert f"{decision} sent for {name} as U0APPROVER" in result.output

    @property
    def info(self) -> StackInfo:
        return self.client.info

    def project(self, name: str, model: str = SEED_MODEL, train_args: tuple[str, ...] = ()) -> Path:
        """A fresh copy of seed_code/ to modify for one case, registering ``model`` (its mlops.toml
        ``[model] name``) and training with ``train_args``."""
        target = self.tmp / name
        shutil.copytree(SEED, target, ignore=shutil.ignore_patterns("__pycache__", "mlruns"))
        config = target / "mlops.toml"
        text = config.read_text(encoding="utf-8")
        if model != SEED_MODEL:
            text = text.replace(f'name = "{SEED_MODEL}"', f'name = "{model}"', 1)
            assert f'name = "{model}"' in text, "seed_code/mlops.toml names no model"
        if train_args:
            text += f"\n[train]\nargs = {json.dumps(list(train_args))}\n"
        config.write_text(text, encoding="utf-8")
        return target

    def second_project(self, name: str) -> Path:
        """A project of the second declared model."""
        return self.project(name, SECOND_MODEL, ("--neighbors", "3"))

    def run(
        self, source: Path, decision: demo.Decision, timeout: float = 420.0, via_cli: bool = False
    ) -> Run:
        """Push ``source`` with a real ``git push`` and follow the run it triggers to its end.

        ``via_cli``: decide with ``mlops-pipeline local approve|reject <execution>`` once the
        card is posted, instead of the demo's click.
        """
        began = time.monotonic()
        commit = demo.push_model(self.info, source, f"e2e {source.name}")
        execution = demo.find_execution(self.client, commit, timeout=60)
        if via_cli and decision != "wait":
            self.decide_with_cli(execution, decision, timeout)
            decision = "wait"
        out = io.StringIO()
        console = Console(file=out, width=120, force_terminal=False)
        view = demo.follow(self.client, execution, decision, timeout=timeout, console=console)
        model = demo.project_model(source, self.info.repository_name)
        result = demo.summarize(self.client, execution, commit, view, model)
        timings = "\n".join(f"  {s.name:28s} {s.status:7s} {s.seconds or 0:6.1f}s" for s in view.steps)
        report = f"[{source.name}] {view.status} in {time.monotonic() - began:.1f}s (push to end)\n{timings}"
        print(f"\n{report}")
        print(result.last_line())
        TIMINGS.append(f"{report}\n  {result.last_line()}")
        log = out.getvalue()
        if view.status != "SUCCEEDED":  # why, for the assertion message: the run's Slack thread
            record = self.client.runs().get(execution)
            if record is not None and record.slack_thread_ts:
                texts = [m.get("text", "") for m in self.client.thread(record.slack_thread_ts)]
                log += "\nSlack thread:\n" + "\n".join(texts)
        return Run(execution, commit, view, result, log)


# Per-step timings of the e2e runs, printed in the terminal summary (the issue asks CI to show them).
TIMINGS: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "e2e per-step timings")
        for block in TIMINGS:
            terminalreporter.write_line(block)


def production_version(registry: MlflowClient, name: str = SEED_MODEL) -> str | None:
    """The version behind alias ``production``; None only when the registry says there is none."""
    try:
        return str(registry.get_model_version_by_alias(name, "production").version)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "alias production not found" in exc.message:
            return None
        raise


@pytest.fixture
def champion(e2e: E2E) -> str:
    """The version behind ``production`` before the case; when the case runs alone and there is
    none yet, an approved run of seed_code/ makes one, so the comparisons below compare something."""
    registry = MlflowClient(e2e.info.mlflow_url)
    if production_version(registry) is None:
        run = e2e.run(e2e.project("champion"), "approve")
        assert run.view.status == "SUCCEEDED", f"{run.view.error}: {run.view.cause}\n{run.log}"
    version = production_version(registry)
    assert version is not None
    return version


def use_terraform() -> bool:
    choice = os.environ.get("MLOPS_E2E_PROVISIONER", "auto")
    if choice not in ("auto", "terraform", "harness"):
        raise pytest.UsageError(f"MLOPS_E2E_PROVISIONER must be auto, terraform or harness, not {choice!r}")
    if choice != "auto":
        return choice == "terraform"
    return tf.find_terraform() is not None and tf.find_plugin_dir() is not None


@pytest.fixture(scope="package")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    tmp = tmp_path_factory.mktemp("e2e")
    options = StackOptions(
        state_dir=tmp / "state",
        approval_timeout_seconds=600,
        terraform=use_terraform(),
        models=(SEED_MODEL, SECOND_MODEL),  # `local up --model delivery-time --model transit-days`
        # Prod moves at once here, for speed: the gradual rollout's bakes and traffic are the ASL
        # tier's (tests/asl/test_rollout.py) and the demo's.
        rollout="all_at_once",
    )
    began = time.monotonic()
    info = control.up(options, timeout=420)
    up_line = f"local stack up ({info.provisioner}) in {time.monotonic() - began:.1f}s: {info.timings}"
    print(f"\n{up_line}")
    TIMINGS.append(up_line)
    try:
        yield E2E(StackClient(info), tmp)
    finally:
        report = control.down(options.state_dir)
        assert report.stopped
        assert report.leftovers == [], f"still running after down: {report.leftovers}"
        assert ports_listening(list(info.ports.values())) == []
