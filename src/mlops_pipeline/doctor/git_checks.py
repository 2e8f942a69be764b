"""The git source: with GitHub or GitLab, both CodeBuild projects clone through an AWS
CodeConnections connection, which Terraform creates PENDING and one person completes in the
console (docs/deploy-aws.md). Builds fail until it is AVAILABLE. A read only:
``codeconnections:ListConnections``.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_pipeline.doctor.inputs import DoctorInputs
from mlops_pipeline.doctor.result import CheckResult, failed, passed, skipped, warned

CONNECTION = "CodeConnections connection"
PROVIDER_TYPES = {"github": "GitHub", "gitlab": "GitLab"}
HANDSHAKE = (
    "complete it once: Developer Tools console > Settings > Connections > {name} > "
    "Update pending connection, and authorise AWS in {provider} (docs/deploy-aws.md)"
)


def connection_name(inputs: DoctorInputs) -> str:
    """The name the pipeline module gives the connection (``<name_prefix>-<git_source>``)."""
    return f"{inputs.name_prefix}-{inputs.git_source}"


def _connections(client: Any, provider: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = client.list_connections(ProviderTypeFilter=provider, **({"NextToken": token} if token else {}))
        found += page.get("Connections", [])
        token = page.get("NextToken")
        if not token:
            return found


def check_connection(client: Any, inputs: DoctorInputs) -> CheckResult:
    """The connection exists and is AVAILABLE (its handshake done)."""
    if inputs.git_source not in PROVIDER_TYPES:
        return skipped(CONNECTION, f"git_source is {inputs.git_source}: CodeBuild clones from CodeCommit")
    provider, name = PROVIDER_TYPES[inputs.git_source], connection_name(inputs)
    try:
        connections = _connections(client, provider)
    except (ClientError, BotoCoreError) as exc:
        return failed(
            CONNECTION,
            f"codeconnections:ListConnections failed: {exc}",
            "the tooling credentials need codeconnections:ListConnections",
        )
    match = next((c for c in connections if c.get("ConnectionName") == name), None)
    if match is None:
        return warned(
            CONNECTION,
            f"no {provider} connection {name!r} yet (terraform apply creates it, PENDING)",
            "after terraform apply, "
            + HANDSHAKE.format(name=name, provider=provider)
            + "; then run doctor again",
        )
    status = str(match.get("ConnectionStatus", ""))
    if status == "AVAILABLE":
        return passed(CONNECTION, f"{name} is AVAILABLE ({match.get('ConnectionArn', '')})")
    if status == "PENDING":
        return failed(
            CONNECTION,
            f"{name} is PENDING: CodeBuild cannot clone until its handshake is done",
            HANDSHAKE.format(name=name, provider=provider),
        )
    return failed(
        CONNECTION,
        f"{name} is {status or 'in an unknown state'}",
        f"the {provider} authorisation was revoked or failed: delete and re-create the connection "
        "(terraform apply -replace='module.pipeline.aws_codeconnections_connection.this[0]'), then "
        + HANDSHAKE.format(name=name, provider=provider),
    )
