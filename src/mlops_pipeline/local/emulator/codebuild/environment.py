"""A build's environment variables: validating overrides, resolving values, role credentials."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_pipeline.local.emulator.codebuild.errors import InvalidBuildRequestError

# What the build inherits from the emulator process; everything else comes from the project.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
# Variables bash sets itself; carrying them to the next phase would be wrong.
_SHELL_OWN_VARIABLES = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})
_VARIABLE_TYPES = frozenset({"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"})


def validate_overrides(overrides: Sequence[Mapping[str, Any]]) -> None:
    """Reject environment overrides CodeBuild rejects: no name, reserved name, unknown type."""
    for variable in overrides:
        name = str(variable.get("name") or "")
        if not name:
            raise InvalidBuildRequestError("environment variable override without a name")
        if name.startswith("CODEBUILD_"):
            raise InvalidBuildRequestError(
                f"environment variable names starting with CODEBUILD_ are reserved: {name}"
            )
        kind = str(variable.get("type") or "PLAINTEXT")
        if kind not in _VARIABLE_TYPES:
            raise InvalidBuildRequestError(
                f"invalid type {kind!r} for {name}; valid: {', '.join(sorted(_VARIABLE_TYPES))}"
            )


def resolve_variable(variable: Mapping[str, Any], account_id: str, region: str) -> str:
    """The value of a project variable: plain, or read from Parameter Store / Secrets Manager."""
    value = str(variable.get("value", ""))
    kind = str(variable.get("type", "PLAINTEXT"))
    if kind == "PARAMETER_STORE":
        from moto.ssm.models import ssm_backends

        parameter = ssm_backends[account_id][region].get_parameter(value)
        return str(parameter.value) if parameter is not None else ""
    if kind == "SECRETS_MANAGER":
        from moto.secretsmanager.models import secretsmanager_backends

        # <secret id>[:<json key>[:<version stage>[:<version id>]]]; ARNs contain ':' themselves.
        secret_id, json_key = value, ""
        if value.startswith("arn:"):
            parts = value.split(":")
            secret_id, json_key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
        elif ":" in value:
            secret_id, json_key = value.split(":", 2)[:2]
        backend = secretsmanager_backends[account_id][region]
        secret = backend.get_secret_value(secret_id, None, None)  # type: ignore[arg-type]
        text = str(secret.get("SecretString", ""))
        return str(json.loads(text)[json_key]) if json_key else text
    return value


def role_credentials(endpoint: str, role_arn: str, region: str, session_name: str) -> dict[str, str]:
    """``AWS_*`` credentials of the project's service role, assumed at the emulator ({} without one)."""
    if not role_arn.startswith("arn:"):
        return {}
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="codebuild-local",
        aws_secret_access_key="codebuild-local",  # noqa: S106 - the emulator accepts any key
    )
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def read_env(path: Path) -> dict[str, str] | None:
    """The environment a phase's shell dumped on exit (``env -0``); None if it wrote nothing."""
    data = path.read_bytes()
    if not data:
        return None
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        if b"=" not in item:
            continue
        name, _, value = item.decode("utf-8", errors="replace").partition("=")
        if name not in _SHELL_OWN_VARIABLES and not name.startswith("BASH_FUNC_"):
            env[name] = value
    return env
