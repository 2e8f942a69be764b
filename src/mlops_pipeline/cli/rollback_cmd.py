"""``mlops-pipeline rollback --env prod --model NAME [--to VERSION]``: roll prod back from the terminal.

The same rollback as the "Roll back prod" button (``domain/prod_rollback.py``), through the same
function: the prod rollback function, invoked synchronously with the caller's own credentials.
IAM (``lambda:InvokeFunction`` on that function) decides who may call it at all. Who is asking
is STS's word, not the CLI's: the request carries a SigV4-signed ``GetCallerIdentity`` made with
the caller's credentials, which the function sends to STS itself; the principal STS names is
recorded and mapped through ``IDENTITY_MAP`` to a Slack user who must be an allowed approver.

Where: ``--function`` (or ``MLOPS_PROD_ROLLBACK_FUNCTION``) names the function on AWS, with the
usual AWS credentials and region; otherwise the running local stack (``--state-dir``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops_pipeline.domain.prod_rollback import AUDIENCE_HEADER, NONCE_HEADER, STS_BODY


@dataclass(frozen=True)
class Answer:
    """What the rollback function answered: ``accepted`` (prod moved back) and its words."""

    accepted: bool
    message: str
    caller: str
    result: Mapping[str, Any]


def identity_proof(
    session: Any, region: str, audience: str, endpoint_url: str | None = None
) -> dict[str, Any]:
    """A SigV4-signed STS GetCallerIdentity request, made with ``session``'s credentials for the
    function ``audience``; the function sends it to STS, which names the caller (valid 15 min)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = str(session.client("sts", region_name=region, endpoint_url=endpoint_url).meta.endpoint_url)
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials: nothing to prove who is asking")
    request = AWSRequest(
        method="POST",
        url=url,
        data=STS_BODY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            AUDIENCE_HEADER: audience,
            NONCE_HEADER: secrets.token_hex(16),
        },
    )
    SigV4Auth(credentials.get_frozen_credentials(), "sts", region).add_auth(request)
    return {"url": url, "body": STS_BODY, "headers": dict(request.headers.items())}


def function_name_of(function: str) -> str:
    """The function's name in a name or an ARN (``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``)."""
    if function.startswith("arn:"):
        parts = function.split(":")
        return parts[6] if len(parts) > 6 else function
    return function


def request_rollback(
    session: Any,
    function: str,
    model: str,
    to_version: str | None = None,
    reason: str = "",
    endpoint_url: str | None = None,
) -> Answer:
    """Ask the prod rollback function to roll ``model`` back, as ``session``'s caller.

    The request carries an identity proof (a signed GetCallerIdentity), never a principal of its
    own: the function learns who asks from STS. RuntimeError when the function failed (its error
    type and message); a refusal is an Answer with ``accepted`` False.
    """
    lambda_client = session.client("lambda", endpoint_url=endpoint_url)
    region = str(lambda_client.meta.region_name)
    caller = str(
        session.client("sts", region_name=region, endpoint_url=endpoint_url).get_caller_identity()["Arn"]
    )
    payload = {
        "mode": "manual",
        "environment": "prod",
        "model": model,
        "reason": reason or "rolled back from the terminal",
        "identity_proof": identity_proof(session, region, function_name_of(function), endpoint_url),
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


def _local_target(state_dir: Path | None) -> tuple[Any, str, str]:
    """A session in the running local stack (its operator, else its tooling admin), its endpoint
    and its prod rollback function."""
    import boto3

    from mlops_pipeline.local.stack.control import status
    from mlops_pipeline.local.stack.state import default_state_dir

    info = status(state_dir.resolve() if state_dir else default_state_dir())
    if info is None:
        typer.echo("error: no --function given and no local stack is running", err=True)
        raise typer.Exit(1)
    # An operator identity of the stack's own (mapped to an approver), else the tooling admin.
    keys = info.credentials["operator" if "operator" in info.credentials else "tooling"]
    session = boto3.Session(
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        region_name=info.region,
    )
    # The harness names functions as Terraform does: <prefix>-rollback-prod, the table <prefix>-pipeline.
    return session, info.endpoint_url, f"{info.table.removesuffix('-pipeline')}-rollback-prod"


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
    endpoint_url: str | None = None
    if function:
        import boto3

        session: Any = boto3.Session()
        name = function
    else:
        session, endpoint_url, name = _local_target(state_dir)
    console = Console(highlight=False, stderr=False)
    try:
        answer = request_rollback(session, name, model, to, reason, endpoint_url)
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
