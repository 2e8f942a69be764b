"""``mlops-pipeline rollback --env prod --model NAME [--to VERSION]``: roll prod back from the terminal.

The same rollback as the "Roll back prod" button (``domain/prod_rollback.py``), through the same
function: the prod rollback function, invoked synchronously with the caller's own credentials.
IAM (``lambda:InvokeFunction`` on that function) decides who may call it at all; the caller's
AWS identity, as STS ``GetCallerIdentity`` verifies it for these credentials, is recorded and
mapped through ``IDENTITY_MAP`` to a Slack user who must be an allowed approver.

Where: ``--function`` (or ``MLOPS_PROD_ROLLBACK_FUNCTION``) names the function on AWS, with the
usual AWS credentials and region; otherwise the running local stack (``--state-dir``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer


@dataclass(frozen=True)
class Answer:
    """What the rollback function answered: ``accepted`` (prod moved back) and its words."""

    accepted: bool
    message: str
    caller: str
    result: Mapping[str, Any]


def request_rollback(
    lambda_client: Any,
    sts_client: Any,
    function: str,
    model: str,
    to_version: str | None = None,
    reason: str = "",
) -> Answer:
    """Ask the prod rollback function to roll ``model`` back, as the caller STS names.

    RuntimeError when the function failed (its error type and message); a refusal is an
    Answer with ``accepted`` False.
    """
    caller = str(sts_client.get_caller_identity()["Arn"])
    payload = {
        "mode": "manual",
        "environment": "prod",
        "model": model,
        "principal": caller,
        "reason": reason or "rolled back from the terminal",
        **({"to_version": to_version} if to_version else {}),
    }
    response = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    raw = response["Payload"].read()
    body = json.loads(raw) if raw else {}
    if response.get("FunctionError"):
        kind = body.get("errorType", "Error") if isinstance(body, dict) else "Error"
        message = body.get("errorMessage", raw[:500]) if isinstance(body, dict) else raw[:500]
        raise RuntimeError(f"the rollback function failed: {kind}: {message}")
    if not isinstance(body, dict):
        raise RuntimeError(f"the rollback function answered {str(body)[:200]!r}")
    return Answer(bool(body.get("accepted")), str(body.get("message", "")), caller, body)


def _local_target(state_dir: Path | None) -> tuple[Any, Any, str]:
    """Clients of the running local stack (its tooling account) and its prod rollback function."""
    from mlops_pipeline.local.stack.client import StackClient
    from mlops_pipeline.local.stack.control import status
    from mlops_pipeline.local.stack.state import default_state_dir

    info = status(state_dir.resolve() if state_dir else default_state_dir())
    if info is None:
        typer.echo("error: no --function given and no local stack is running", err=True)
        raise typer.Exit(1)
    stack = StackClient(info)
    # The harness names functions as Terraform does: <prefix>-rollback-prod, the table <prefix>-pipeline.
    function = f"{info.table.removesuffix('-pipeline')}-rollback-prod"
    # An operator identity of the stack's own (mapped to an approver), else the tooling admin.
    account = "operator" if "operator" in info.credentials else "tooling"
    return stack.client("lambda", account), stack.client("sts", account), function


def rollback(
    model: Annotated[str, typer.Option("--model", help="The model to roll back (its name in mlops.toml).")],
    env: Annotated[
        str, typer.Option("--env", help="The environment; only prod is rolled back by hand.")
    ] = "prod",
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="The model version to go back to (default: the one the live run replaced)."
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why: recorded on the version and in the thread.")
    ] = "",
    function: Annotated[
        str | None,
        typer.Option(
            "--function",
            envvar="MLOPS_PROD_ROLLBACK_FUNCTION",
            help="The prod rollback function on AWS (name or ARN; default: the local stack's).",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="The local stack's state dir (default: $MLOPS_LOCAL_STATE or ./.mlops-local)."
        ),
    ] = None,
) -> None:
    """Move prod's `live` back to the previous version and restore the registry's `production` alias."""
    from rich.console import Console
    from rich.markup import escape

    if env != "prod":
        typer.echo(f"error: only prod is rolled back by hand, not {env!r}", err=True)
        raise typer.Exit(2)
    if function:
        import boto3

        lambda_client, sts_client, name = boto3.client("lambda"), boto3.client("sts"), function
    else:
        lambda_client, sts_client, name = _local_target(state_dir)
    console = Console(highlight=False, stderr=False)
    try:
        answer = request_rollback(lambda_client, sts_client, name, model, to, reason)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    console.print(f"caller: {escape(answer.caller)}", soft_wrap=True)
    style = "green" if answer.accepted else "bold red"
    console.print(f"[{style}]{escape(answer.message)}[/]", soft_wrap=True)
    if not answer.accepted:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)
