"""``mlops-pipeline demo``: push the model project to the local remote and follow the whole run.

The run is started the way a data scientist starts it: a real ``git push`` to the local
remote, whose hook emits CodeCommit's event; the EventBridge rule starts the state machine.
The demo then shows the steps live, answers the approval card if asked to (a signed click
through the Slack inbox, like a human approver's), and prints a summary, one prediction from
the prod alias and a last machine-readable line::

    demo: succeeded total_s=123.4 model=delivery-time version=2 stage=3 prod=3
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlops_pipeline.domain.models import StepLog
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.demo_format import RolloutReport, print_summary, rollout_report
from mlops_pipeline.local.stack.demo_traffic import TrafficCount, TrafficGenerator, smoke_request
from mlops_pipeline.local.stack.errors import DemoError
from mlops_pipeline.local.stack.state import APPROVER, StackInfo, slack_location

Decision = Literal["approve", "reject", "wait"]
Outcome = Literal["succeeded", "failed", "rejected"]

AUTHOR_NAME = "Dana Scientist"
AUTHOR_EMAIL = "author@example.com"  # the local workspace's data scientist (U0AUTHOR)
# States that only report or branch: not shown as steps of their own.
_HIDDEN_PREFIXES = ("Report", "Init", "GatePassed")
_IGNORED_COPY = shutil.ignore_patterns(".git", "__pycache__", "mlruns", ".mlops-local", "*.pyc")


# --------------------------------------------------------------------------- git


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise DemoError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def push_model(info: StackInfo, source: Path, message: str) -> str:
    """Commit ``source`` (as the whole tree) to a clone of the local remote and ``git push`` it.

    Returns the pushed commit id. An unchanged tree still gets a new (empty) commit, so every
    demo run is a new run.
    """
    source = Path(source).resolve()
    if not (source / "train.py").is_file():
        raise DemoError(f"{source} is not a model project (no train.py)")
    work = Path(info.state_dir) / "work" / "model-repo"
    if not (work / ".git").is_dir():
        work.parent.mkdir(parents=True, exist_ok=True)
        _git(work.parent, "clone", "--quiet", info.git_remote_url, work.name)
    else:
        _git(work, "fetch", "--quiet", "origin")
    if _git(work, "rev-parse", "--verify", "--quiet", f"origin/{info.branch}", check=False).returncode == 0:
        _git(work, "checkout", "--quiet", "-B", info.branch, f"origin/{info.branch}")
    else:
        _git(work, "checkout", "--quiet", "-B", info.branch)
    for child in work.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(source, work, dirs_exist_ok=True, ignore=_IGNORED_COPY)
    _git(work, "add", "--all")
    _git(work, "commit", "--quiet", "--allow-empty", "-m", message)
    commit = _git(work, "rev-parse", "HEAD").stdout.strip()
    _git(work, "push", "--quiet", "origin", f"HEAD:{info.branch}")
    return commit


def find_execution(client: StackClient, commit: str, timeout: float = 60.0) -> str:
    """The execution the push of ``commit`` started (EventBridge -> StartExecution)."""
    sfn = client.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = sfn.list_executions(stateMachineArn=client.info.state_machine_arn, maxResults=50)
        for execution in listed["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described.get("input") or "{}").get("commit") == commit:
                return str(execution["executionArn"])
        time.sleep(0.5)
    raise DemoError(
        f"no execution started for commit {commit[:12]} within {timeout:.0f}s "
        f"(see {client.info.state_dir}/logs/git-remote.log)"
    )


# --------------------------------------------------------------------------- following a run


@dataclass
class Step:
    name: str
    status: str  # running | ok | failed
    started: datetime
    seconds: float | None = None


@dataclass
class RunView:
    """The steps of an execution, read from its history."""

    status: str
    steps: list[Step]
    outputs: dict[str, Any]
    error: str | None = None
    cause: str | None = None
    started: datetime | None = None
    stopped: datetime | None = None

    @property
    def total_seconds(self) -> float:
        if self.started is None:
            return 0.0
        end = self.stopped or datetime.now(self.started.tzinfo)
        return (end - self.started).total_seconds()


def read_run(client: StackClient, execution: str) -> RunView:
    """Status, visible steps with durations and the states' outputs of ``execution``."""
    sfn = client.client("stepfunctions")
    described = sfn.describe_execution(executionArn=execution)
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    steps: dict[str, Step] = {}
    outputs: dict[str, Any] = {}
    current: str | None = None
    visits: Counter[str] = Counter()
    latest: dict[str, str] = {}  # state name -> the step key of its latest visit
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            name = str(entered["name"])
            # A state entered again (the rollout's shift/bake loop) is a step of its own: "Name #2".
            visits[name] += 1
            current = latest[name] = name if visits[name] == 1 else f"{name} #{visits[name]}"
            if not name.startswith(_HIDDEN_PREFIXES):
                kind = event["type"]
                status = "failed" if kind == "FailStateEntered" else "running"
                if kind in ("FailStateEntered", "SucceedStateEntered"):
                    steps[current] = Step(
                        current, "failed" if status == "failed" else "ok", event["timestamp"], 0
                    )
                else:
                    steps[current] = Step(current, status, event["timestamp"])
        elif exited:
            name = str(exited["name"])
            try:
                outputs[name] = json.loads(exited.get("output") or "null")
            except ValueError:
                outputs[name] = None
            step = steps.get(latest.get(name, name))
            if step is not None and step.status == "running":
                step.status = "ok"
                step.seconds = (event["timestamp"] - step.started).total_seconds()
        elif str(event["type"]).endswith(("Failed", "TimedOut")) and current in steps:
            # TaskFailed, LambdaFunctionFailed, ...TimedOut: the step failed even when a Catch
            # moves on (then no exit event follows).
            step = steps[current]
            step.status = "failed"
            step.seconds = (event["timestamp"] - step.started).total_seconds()
    # A step the execution left through a Catch never "exits": close it at the next step.
    ordered = list(steps.values())
    for index, step in enumerate(ordered):
        if step.seconds is None and index + 1 < len(ordered):
            step.seconds = (ordered[index + 1].started - step.started).total_seconds()
            if step.status == "running":
                step.status = "failed"
    if described.get("error") == "ModelRejected" and "RequestApproval" in steps:
        steps["RequestApproval"].status = "rejected"
    return RunView(
        status=str(described["status"]),
        steps=ordered,
        outputs=outputs,
        error=described.get("error"),
        cause=described.get("cause"),
        started=described.get("startDate"),
        stopped=described.get("stopDate"),
    )


def render(view: RunView, info: StackInfo, execution: str, note: str = "") -> Panel:
    """The live progress panel: steps with status and duration, links to MLflow and Slack."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("status")
    table.add_column("time", justify="right")
    icons = {
        "ok": Text("done", "green"),
        "failed": Text("failed", "red"),
        "running": Text("running", "yellow"),
    }
    for step in view.steps:
        seconds = step.seconds
        if seconds is None:
            seconds = (datetime.now(step.started.tzinfo) - step.started).total_seconds()
        table.add_row(step.name, icons.get(step.status, Text(step.status)), f"{seconds:6.1f}s")
    links = Text.assemble(
        ("MLflow UI     ", "bold"),
        info.mlflow_url,
        "\n",
        ("Slack inbox   " if info.slack_mode != "slack" else "Slack         ", "bold"),
        slack_location(info),
        "\n",
        ("execution     ", "bold"),
        execution.rsplit(":", 1)[-1],
    )
    parts: list[Any] = [links, table]
    if note:
        parts.append(Text(note, "cyan"))
    title = f"pipeline run: {view.status.lower()} ({view.total_seconds:.0f}s)"
    return Panel(Group(*parts), title=title, expand=False)


@dataclass
class DemoResult:
    outcome: Outcome
    execution: str
    commit: str
    total_seconds: float
    model_name: str = ""
    model_version: str = ""
    stage_version: str = ""
    prod_version: str = ""
    approver: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    prediction: dict[str, Any] | None = None
    failed_log: tuple[str, StepLog] | None = None  # (step, its log) of a failed build
    functions: dict[str, str] = field(default_factory=dict)  # the model's function per environment
    rollout: RolloutReport | None = None  # how prod moved (None: prod was not deployed)

    def last_line(self) -> str:
        return (
            f"demo: {self.outcome} total_s={self.total_seconds:.1f} model={self.model_name or '-'} "
            f"version={self.model_version or '-'} stage={self.stage_version or '-'} "
            f"prod={self.prod_version or '-'}"
        )


def project_model(source: Path, repository: str) -> str:
    """The model a project registers: its mlops.toml ``[model] name`` (default: the repository's)."""
    from mlops_pipeline.model_build.config import load_config

    return load_config(Path(source), repository).model_name


def alias_version(client: StackClient, environment: str, model: str) -> str:
    """The version behind ``live`` of ``model``'s inference function in ``environment``."""
    lam = client.client("lambda", environment)
    function = client.info.function_of(model, environment)
    return str(lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"])


def predict(client: StackClient, environment: str, request: Mapping[str, Any], model: str) -> dict[str, Any]:
    """Invoke the ``live`` alias of ``model``'s inference function with ``request``."""
    lam = client.client("lambda", environment)
    function = client.info.function_of(model, environment)
    response = lam.invoke(FunctionName=f"{function}:live", Payload=json.dumps(dict(request)).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise DemoError(f"the {environment} function {function} failed: {payload}")
    if isinstance(payload, dict) and "body" in payload and isinstance(payload["body"], str):
        payload = json.loads(payload["body"])
    return dict(payload) if isinstance(payload, dict) else {"result": payload}


def summarize(
    client: StackClient,
    execution: str,
    commit: str,
    view: RunView,
    model_name: str = "",
    traffic: TrafficCount | None = None,
) -> DemoResult:
    """The run's outcome, model, gate, prod's rollout (with ``traffic``: what the demo's requests
    got during the bake) and where its model's ``live`` aliases are; ``model_name``: the pushed
    project's model, for a run that failed before it named one."""
    outcome: Outcome
    if view.status == "SUCCEEDED":
        outcome = "succeeded"
    elif view.error == "ModelRejected":
        outcome = "rejected"
    else:
        outcome = "failed"
    last: dict[str, Any] = {}
    for output in view.outputs.values():
        if isinstance(output, dict):
            last.update({k: v for k, v in output.items() if v is not None})
    model: dict[str, Any] = last["model"] if isinstance(last.get("model"), dict) else {}
    approval: dict[str, Any] = last["approval"] if isinstance(last.get("approval"), dict) else {}
    name = str(model.get("model_name") or model_name)
    # An undeclared model has no functions here (the pipeline refuses it at Train): no versions.
    functions = client.info.inference_functions.get(name, {})
    result = DemoResult(
        outcome=outcome,
        execution=execution,
        commit=commit,
        total_seconds=view.total_seconds,
        model_name=name,
        model_version=str(model.get("model_version") or ""),
        stage_version=alias_version(client, "stage", name) if "stage" in functions else "",
        prod_version=alias_version(client, "prod", name) if "prod" in functions else "",
        approver=str(approval.get("approved_by") or ""),
        evaluation=model,
        steps=view.steps,
        error=view.error,
        cause=view.cause,
        functions=dict(functions),
        rollout=rollout_report(view.outputs, traffic, outcome == "succeeded"),
    )
    if outcome == "failed":
        result.failed_log = failed_build_log(client, execution)
    if outcome == "succeeded" and model.get("smoke_input"):
        request = model["smoke_input"]
        result.prediction = {"request": request, "response": predict(client, "prod", request, name)}
    return result


def follow(
    client: StackClient,
    execution: str,
    decision: Decision,
    approver: str = APPROVER,
    timeout: float = 2400.0,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
    traffic: TrafficGenerator | None = None,
) -> RunView:
    """Show the run until it ends; click the approval card when ``decision`` says so. With
    ``traffic``: hand it the model's smoke example once known, and show what its requests got."""
    console = console or Console()
    info = client.info
    clicked = False
    note = ""
    deadline = time.monotonic() + timeout
    printed: dict[str, str] = {}

    def tick() -> RunView:
        nonlocal clicked, note
        view = read_run(client, execution)
        if traffic is not None and traffic.request is None:
            traffic.request = smoke_request(view.outputs, traffic.model)
        if view.status == "RUNNING" and not clicked:
            card = client.approval_card(execution)
            if card is not None:
                if decision == "wait" and client.real_slack:
                    note = (
                        f"approve in Slack channel {info.channel} or run: mlops-pipeline local approve "
                        f"{execution.rsplit(':', 1)[-1]}"
                    )
                elif decision == "wait":
                    note = (
                        f"Waiting for your decision: open {info.slack_inbox_url} and click Approve or Reject "
                        f"(or run `mlops-pipeline local approve {execution.rsplit(':', 1)[-1]}`)"
                    )
                else:
                    if client.real_slack:  # no inbox to click in: send Slack's signed payload ourselves
                        status, body = client.send_interaction(card, decision, approver)
                    else:
                        status, body = client.click(str(card["ts"]), decision, approver)
                    clicked = True
                    note = f"{decision} clicked as {approver} (signed interaction, HTTP {status})"
                    if status != 200:
                        raise DemoError(f"the interactions endpoint answered {status}: {body[:300]}")
        return view

    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                view = tick()
                live.update(render(view, info, execution, _with_traffic(note, traffic)))
                if view.status != "RUNNING":
                    return view
                if time.monotonic() > deadline:
                    raise DemoError(f"the run did not finish within {timeout:.0f}s")
                sleep(1.0)
    console.print(f"MLflow UI:   {info.mlflow_url}\nSlack inbox: {slack_location(info)}")
    shown_note, shown_traffic, traffic_at = "", "", 0.0
    while True:
        view = tick()
        line = traffic.snapshot().text() if traffic is not None else ""
        # The traffic's counts every 5 s at most (not a line per request), and at the end.
        if line != shown_traffic and (time.monotonic() - traffic_at >= 5 or view.status != "RUNNING"):
            shown_traffic, traffic_at = line, time.monotonic()
            console.print(f"  {line}", highlight=False)
        for step in view.steps:  # plain lines when not on a terminal (CI logs)
            if step.status != "running" and printed.get(step.name) != step.status:
                printed[step.name] = step.status
                console.print(
                    f"  {step.name:28s} {step.status:7s} {step.seconds or 0:6.1f}s", highlight=False
                )
        if note and note != shown_note:
            console.print(note, highlight=False)
            shown_note = note
        if view.status != "RUNNING":
            return view
        if time.monotonic() > deadline:
            raise DemoError(f"the run did not finish within {timeout:.0f}s")
        sleep(1.0)


def _with_traffic(note: str, traffic: TrafficGenerator | None) -> str:
    line = traffic.snapshot().text() if traffic is not None else ""
    return "\n".join(part for part in (note, line) if part)


def failed_build_log(client: StackClient, execution: str) -> tuple[str, StepLog] | None:
    """The last step of the run record that carries a build's log (None: none, or unreadable)."""
    try:
        record = client.runs().get(execution)
    except Exception:  # the summary goes on without it
        return None
    logged = [(s.step, s.log) for s in (record.steps if record else ()) if s.log is not None]
    return logged[-1] if logged else None


def run_demo(
    info: StackInfo,
    source: Path,
    decision: Decision,
    approver: str = APPROVER,
    timeout: float = 2400.0,
    console: Console | None = None,
) -> DemoResult:
    """Push ``source``, follow the run to its end, and summarise it."""
    console = console or Console()
    client = StackClient(info)
    message = f"demo run {datetime.now().isoformat(timespec='seconds')}"
    model = project_model(source, info.repository_name)
    if model not in info.inference_functions:
        console.print(
            f"model {model!r} is not declared on this stack ({', '.join(info.models) or 'none'}): "
            f"the pipeline refuses it at Train; declare it with `mlops-pipeline local up --model {model}`",
            style="yellow",
        )
    commit = push_model(info, source, message)
    console.print(f"pushed {commit[:12]} to {info.git_remote_url} ({info.branch})", highlight=False)
    execution = find_execution(client, commit)
    # Callers of prod's live while a gradual rollout bakes: a bake without requests cannot pass.
    traffic = TrafficGenerator(info, model) if model in info.inference_functions else None
    with traffic if traffic is not None else contextlib.nullcontext():
        view = follow(
            client, execution, decision, approver=approver, timeout=timeout, console=console, traffic=traffic
        )
    result = summarize(client, execution, commit, view, model, traffic.snapshot() if traffic else None)
    print_summary(result, info, console)
    return result
