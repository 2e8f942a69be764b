"""``mlops-pipeline runs list|show``: the pipeline's run records (DynamoDB), on AWS or locally.

Where the records are read from: ``--table`` (or ``MLOPS_TABLE``) with the usual AWS
credentials and region; otherwise the running local stack (``--state-dir``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

runs_app = typer.Typer(help="Inspect pipeline runs (one per commit).")

TableOption = Annotated[
    str | None,
    typer.Option("--table", envvar="MLOPS_TABLE", help="DynamoDB table on AWS (default: the local stack's)."),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="The local stack's state dir (default: $MLOPS_LOCAL_STATE or ./.mlops-local)."
    ),
]


def _store(table: str | None, state_dir: Path | None) -> Any:
    from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore

    if table:
        return DynamoRunStore(table)
    from mlops_pipeline.local.stack.client import StackClient
    from mlops_pipeline.local.stack.control import status
    from mlops_pipeline.local.stack.state import default_state_dir

    info = status(state_dir.resolve() if state_dir else default_state_dir())
    if info is None:
        typer.echo("error: no --table given and no local stack is running", err=True)
        raise typer.Exit(1)
    return StackClient(info).runs()


def _short(execution: str) -> str:
    return execution.rsplit(":", 1)[-1]


@runs_app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    table: TableOption = None,
    state_dir: StateDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The newest runs first."""
    from rich.console import Console
    from rich.table import Table

    records = _store(table, state_dir).list_recent(limit)
    if as_json:
        for record in records:
            typer.echo(json.dumps(_as_dict(record)))
        return
    if not records:
        typer.echo("no runs yet")
        return
    out = Table(box=None, header_style="bold")
    for column in ("execution", "status", "started", "commit", "model", "last step"):
        out.add_column(column)
    for record in records:
        last = record.steps[-1] if record.steps else None
        out.add_row(
            _short(record.execution),
            record.status,
            record.started_at.isoformat(timespec="seconds") if record.started_at else "",
            record.commit[:12],
            f"{record.model} v{record.version}" if record.model else "",
            f"{last.step} {last.status}" if last else "",
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)  # logs and pipes: one line per run
    console.print(out)


@runs_app.command("show")
def show(
    execution: Annotated[
        str, typer.Argument(help="Execution ARN, the start of its name, or `latest` (the newest run).")
    ],
    table: TableOption = None,
    state_dir: StateDir = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: trigger, model and how it is served, Slack thread and every step (a failed build's
    last log lines)."""
    store = _store(table, state_dir)
    arn = execution
    if execution == "latest":
        newest = store.list_recent(1)
        if not newest:
            typer.echo("error: no runs yet", err=True)
            raise typer.Exit(1)
        arn = newest[0].execution
    elif not execution.startswith("arn:"):
        matches = [r.execution for r in store.list_recent(100) if _short(r.execution).startswith(execution)]
        if len(matches) != 1:
            typer.echo(f"error: {len(matches)} runs match {execution!r}; give the execution ARN", err=True)
            raise typer.Exit(1)
        arn = matches[0]
    record = store.get(arn)
    if record is None:
        typer.echo(f"error: no run record for {arn}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(_as_dict(record), indent=2))
        return
    data = _as_dict(record)
    steps = data.pop("steps")
    for key, value in data.items():
        typer.echo(f"{key:16s} {value if value is not None else ''}")
    for step in steps:
        typer.echo(f"  {step['at']}  {step['step']:24s} {step['status']:10s} {step['detail']}")
        log = step.get("log")
        if log:  # a failed build: the end of its log, and where the whole log is
            for line in log["lines"]:
                typer.echo(f"      | {line}")
            if log["error"]:
                typer.echo(f"      {log['error']}")
            if log["location"]:
                typer.echo(f"      full log: {log['location']}")


def _as_dict(record: Any) -> dict[str, Any]:
    return {
        "execution": record.execution,
        "status": record.status,
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "commit": record.commit,
        "repository": record.repository,
        "branch": record.branch,
        "author": record.author,
        "model": record.model,
        "version": record.version,
        "serving_flavor": record.serving_flavor,
        "serving_fallback_reason": record.serving_fallback_reason,
        "slack_channel": record.slack_channel,
        "slack_thread_ts": record.slack_thread_ts,
        "steps": [_step_dict(s) for s in record.steps],
    }


def _step_dict(step: Any) -> dict[str, Any]:
    data = {"step": step.step, "status": step.status, "at": step.at.isoformat(), "detail": step.detail}
    if step.log is not None:
        data["log"] = {"lines": list(step.log.lines), "location": step.log.location, "error": step.log.error}
    return data


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
