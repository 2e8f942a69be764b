"""``mlops-pipeline local up|down|status|approve|reject`` and ``mlops-pipeline demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_pipeline.local.stack.demo import DemoResult
    from mlops_pipeline.local.stack.demo_rollback import RollbackDemo
    from mlops_pipeline.local.stack.state import StackInfo

local_app = typer.Typer(help="The local three-account AWS emulation (moto, MLflow, Slack stand-in).")

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the local stack keeps its files (default: $MLOPS_LOCAL_STATE or ./.mlops-local).",
        file_okay=False,
    ),
]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")]
GitHostOption = Annotated[
    str,
    typer.Option(
        "--git-host",
        help="What a push to the local git remote sends: codecommit (CodeCommit's EventBridge event), "
        "github or gitlab (the host's signed push webhook to the local gateway).",
        case_sensitive=False,
    ),
]


ModelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="Declare a model (its mlops.toml [model] name): its own inference function in stage and "
        "prod, as Terraform's `models` does. Repeat for more models (default: delivery-time, the seed's).",
    ),
]
RolloutOption = Annotated[
    str,
    typer.Option(
        "--rollout",
        help="How prod moves to a new version: gradual (50 %, then 100 %, 10 s bakes judged on the new "
        "version's metrics; the demo sends traffic during the bake, a bake without requests rolls back "
        "after two extensions) or all_at_once.",
        case_sensitive=False,
    ),
]


def _rollout(value: str) -> str:
    from mlops_pipeline.local.stack.errors import LocalStackError
    from mlops_pipeline.local.stack.state import check_rollout

    try:
        return check_rollout(value.strip().lower().replace("-", "_"))
    except LocalStackError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rollout") from exc


def _models(values: list[str] | None) -> tuple[str, ...]:
    from mlops_pipeline.local.stack.errors import LocalStackError
    from mlops_pipeline.local.stack.state import DEFAULT_MODELS, check_models

    try:
        return check_models(values or DEFAULT_MODELS)
    except LocalStackError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from exc


def _git_host(value: str, terraform: bool) -> str:
    from mlops_pipeline.local.stack.errors import LocalStackError
    from mlops_pipeline.local.stack.webhook_endpoint import check_git_host

    try:
        host = check_git_host(value.strip().lower())
    except LocalStackError as exc:
        raise typer.BadParameter(str(exc), param_hint="--git-host") from exc
    if terraform and host != "codecommit":
        raise typer.BadParameter(
            "github/gitlab is not provisioned by --terraform yet", param_hint="--git-host"
        )
    return host


def _state_dir(value: Path | None) -> Path:
    from mlops_pipeline.local.stack.state import default_state_dir

    return value.resolve() if value is not None else default_state_dir()


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(1)


def _print_info(info: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from mlops_pipeline.local.stack.state import StackInfo, slack_location

    assert isinstance(info, StackInfo)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("state dir", info.state_dir)
    table.add_row("pid", str(info.pid))
    table.add_row("provisioned by", info.provisioner)
    table.add_row("AWS emulator", f"{info.endpoint_url}  (accounts tooling, stage, prod)")
    table.add_row("MLflow UI", info.mlflow_url)
    table.add_row("Slack inbox" if info.slack_mode != "slack" else "Slack", slack_location(info))
    if info.slack_mode == "slack":
        table.add_row("interactions", f"{info.interactions_url}  (tunnel here for Slack buttons)")
    table.add_row("git remote", f"{info.git_remote_url}  (push to {info.branch} to start a run)")
    table.add_row("state machine", info.state_machine_arn)
    table.add_row("prod rollout", info.rollout.replace("_", " "))
    for model, functions in info.inference_functions.items():
        names = ", ".join(f"{environment} {name}" for environment, name in functions.items())
        table.add_row(f"model {model}", f"{names}  (alias live)")
    if info.webhook_url:
        table.add_row("git webhook", f"{info.webhook_url}  ({info.git_host} push deliveries, signed)")
    if info.timings:
        table.add_row("start-up", ", ".join(f"{k} {v:.1f}s" for k, v in info.timings.items()))
    Console(highlight=False).print(table)


@local_app.command("up")
def up(
    state_dir: StateDir = None,
    emulator_port: PortOption = 0,
    mlflow_port: PortOption = 0,
    slack_port: PortOption = 0,
    gateway_port: PortOption = 0,
    terraform: Annotated[
        bool, typer.Option("--terraform", help="Provision with `terraform apply` of terraform/live/local.")
    ] = False,
    approval_timeout: Annotated[int, typer.Option(min=30, help="Seconds an approval waits.")] = 1800,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the stack to be ready.")] = 600,
    git_host: GitHostOption = "codecommit",
    model: ModelOption = None,
    rollout: RolloutOption = "gradual",
) -> None:
    """Start the emulator, MLflow, the Slack stand-in and the git remote; provision the pipeline."""
    from mlops_pipeline.local.stack.control import up as stack_up
    from mlops_pipeline.local.stack.errors import LocalStackError
    from mlops_pipeline.local.stack.state import StackOptions

    options = StackOptions(
        state_dir=_state_dir(state_dir),
        emulator_port=emulator_port,
        mlflow_port=mlflow_port,
        slack_port=slack_port,
        gateway_port=gateway_port,
        terraform=terraform,
        approval_timeout_seconds=approval_timeout,
        git_host=_git_host(git_host, terraform),
        models=_models(model),
        rollout=_rollout(rollout),
    )
    typer.echo(f"starting the local stack in {options.state_dir} ...")
    try:
        info = stack_up(options, timeout=timeout)
    except LocalStackError as exc:
        raise _fail(str(exc)) from exc
    _print_info(info)
    typer.echo("stop it with: mlops-pipeline local down")


@local_app.command("down")
def down(state_dir: StateDir = None) -> None:
    """Stop the local stack and everything it started."""
    from mlops_pipeline.local.stack.control import down as stack_down

    report = stack_down(_state_dir(state_dir))
    if not report.stopped:
        typer.echo("no local stack is running")
        return
    if report.leftovers:
        raise _fail(f"stopped, but still running: {', '.join(report.leftovers)}")
    typer.echo(
        f"local stack stopped (processes {', '.join(map(str, report.pids))}; "
        f"ports {', '.join(map(str, report.ports))} free)"
    )


@local_app.command("status")
def status(state_dir: StateDir = None) -> None:
    """Show whether a local stack runs, and where."""
    from mlops_pipeline.local.stack.control import status as stack_status
    from mlops_pipeline.local.stack.errors import LocalStackError

    try:
        info = stack_status(_state_dir(state_dir))
    except LocalStackError as exc:
        raise _fail(str(exc)) from exc
    if info is None:
        typer.echo("no local stack is running (start one with `mlops-pipeline local up`)")
        raise typer.Exit(3)
    _print_info(info)


def _decide(action: str, run: str, user: str, state_dir: Path | None) -> None:
    from mlops_pipeline.local.stack.client import StackClient
    from mlops_pipeline.local.stack.control import status as stack_status
    from mlops_pipeline.local.stack.errors import LocalStackError

    info = stack_status(_state_dir(state_dir))
    if info is None:
        raise _fail("no local stack is running")
    client = StackClient(info)
    try:
        execution = client.resolve_execution(run)
        code, body = client.decide(execution, action, user)
    except LocalStackError as exc:
        raise _fail(str(exc)) from exc
    if code != 200:
        raise _fail(f"the interactions endpoint answered {code}: {body[:300]}")
    typer.echo(f"{action} sent for {execution.rsplit(':', 1)[-1]} as {user} (signed interaction)")


RunArgument = Annotated[str, typer.Argument(help="Execution ARN, name (or its prefix), or 'latest'.")]
UserOption = Annotated[str, typer.Option("--user", help="Slack user id of the approver.")]


@local_app.command("approve")
def approve(run: RunArgument = "latest", user: UserOption = "U0APPROVER", state_dir: StateDir = None) -> None:
    """Approve a run's pending card, as a click in Slack would (signed payload)."""
    _decide("approve", run, user, state_dir)


@local_app.command("reject")
def reject(run: RunArgument = "latest", user: UserOption = "U0APPROVER", state_dir: StateDir = None) -> None:
    """Reject a run's pending card, as a click in Slack would (signed payload)."""
    _decide("reject", run, user, state_dir)


def demo(
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Click Approve in the Slack inbox as U0APPROVER.")
    ] = False,
    reject_: Annotated[bool, typer.Option("--reject", help="Click Reject instead.")] = False,
    source: Annotated[
        Path | None,
        typer.Option(
            help="The model project to push (default: seed_code/ of this repository).", file_okay=False
        ),
    ] = None,
    state_dir: StateDir = None,
    down_after: Annotated[bool, typer.Option("--down", help="Stop the local stack at the end.")] = False,
    terraform: Annotated[
        bool, typer.Option("--terraform", help="If a stack must be started: provision it with Terraform.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run to finish.")] = 2400,
    git_host: GitHostOption = "codecommit",
    rollout: RolloutOption = "gradual",
    roll_back: Annotated[
        bool,
        typer.Option(
            "--roll-back", help="After a successful run: click Roll back prod in Slack as U0APPROVER."
        ),
    ] = False,
) -> None:
    """Run the whole flow locally: push the model, build, stage, approve in Slack, prod, promote."""
    import time

    from rich.console import Console

    from mlops_pipeline.local.stack import control
    from mlops_pipeline.local.stack.checkout import repository_root
    from mlops_pipeline.local.stack.demo import Decision, project_model, run_demo
    from mlops_pipeline.local.stack.errors import LocalStackError
    from mlops_pipeline.local.stack.provisioning import REPOSITORY_NAME
    from mlops_pipeline.local.stack.state import StackOptions

    if auto_approve and reject_:
        raise typer.BadParameter("use --auto-approve or --reject, not both")
    if roll_back and not auto_approve:
        raise typer.BadParameter("--roll-back needs --auto-approve (a run that reaches prod)")
    decision: Decision = "reject" if reject_ else "approve" if auto_approve else "wait"
    host = _git_host(git_host, terraform)
    chosen_rollout = _rollout(rollout)
    console = Console(highlight=False)
    directory = _state_dir(state_dir)
    if source is None:
        root = repository_root()
        if root is None or not (root / "seed_code").is_dir():
            raise _fail("no seed_code/ next to the package: pass --source <model project>")
        source = root / "seed_code"
    began = time.monotonic()
    try:
        info = control.status(directory)
        if info is None:
            console.print(f"starting the local stack in {directory} ...")
            # The stack declares the pushed project's model (its own function in stage and prod).
            models = _models([project_model(source, REPOSITORY_NAME)])
            options = StackOptions(
                state_dir=directory, terraform=terraform, git_host=host, models=models, rollout=chosen_rollout
            )
            info = control.up(options, timeout=600)
            console.print(
                f"local stack up in {time.monotonic() - began:.1f}s "
                f"({', '.join(f'{k} {v:.1f}s' for k, v in info.timings.items())})"
            )
        elif info.git_host != host:
            raise LocalStackError(
                f"the running local stack has --git-host {info.git_host}, not {host}: "
                "stop it (mlops-pipeline local down) or pass the same --git-host"
            )
        else:
            # Its rollout is the one it started with (--rollout applies to a stack the demo starts).
            console.print(f"using the running local stack (pid {info.pid}, prod rollout {info.rollout})")
        result = run_demo(info, source, decision, timeout=timeout, console=console)
        rolled = _roll_back(info, result, console) if roll_back else None
    except LocalStackError as exc:
        if down_after:
            control.down(directory)
        console.print(f"[bold red]error:[/] {exc}", markup=True)
        typer.echo("demo: failed total_s=0 model=- version=- stage=- prod=-")
        raise typer.Exit(1) from exc
    if down_after:
        control.down(directory)
        console.print("local stack stopped")
    else:
        console.print(
            "the local stack keeps running (MLflow UI and Slack inbox above); stop it: mlops-pipeline local down"
        )
    typer.echo(result.last_line())
    if result.outcome == "failed":
        raise typer.Exit(1)
    if rolled is not None:
        typer.echo(rolled.line)
        if not rolled.ok:
            raise typer.Exit(1)


def _roll_back(info: StackInfo, result: DemoResult, console: Console) -> RollbackDemo:
    """``demo --roll-back``: roll the run's prod deployment back from Slack (a succeeded run only)."""
    from mlops_pipeline.local.stack.client import StackClient
    from mlops_pipeline.local.stack.demo_rollback import RollbackDemo, roll_back_from_slack

    if result.outcome != "succeeded":
        return RollbackDemo(False, f"nothing to roll back: the run {result.outcome}")
    console.print("rolling prod back from Slack ...")
    return roll_back_from_slack(StackClient(info), result.execution, result.model_name, console=console)


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")
    app.command("demo")(demo)
