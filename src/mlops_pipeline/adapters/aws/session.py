"""Cross-account sessions: assume a target account's role through STS.

boto3 honours ``AWS_ENDPOINT_URL`` (and the per-service variants) for every client it
creates, so the same code reaches the local emulator without any special case here.
"""

from __future__ import annotations

import re
from typing import Any

import boto3

# STS RoleSessionName: 2-64 characters of [\w+=,.@-].
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]", re.ASCII)
_SESSION_NAME_MAX = 64


def sanitize_session_name(name: str) -> str:
    """Turn any text (an execution ARN, a user name) into a valid STS RoleSessionName."""
    cleaned = _SESSION_NAME_BAD.sub("-", name)[:_SESSION_NAME_MAX]
    if len(cleaned) < 2:
        cleaned = (cleaned + "mlops-pipeline")[:_SESSION_NAME_MAX]
    return cleaned


def assume_role_session(
    role_arn: str,
    session_name: str,
    external_id: str | None = None,
    sts_client: Any | None = None,
    region: str | None = None,
) -> boto3.Session:
    """A boto3 Session holding temporary credentials of ``role_arn``.

    ``session_name`` is sanitised to what STS accepts (it shows up in CloudTrail of the
    target account, so pass something traceable such as the execution name).
    """
    sts = sts_client if sts_client is not None else boto3.client("sts", region_name=region)
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": sanitize_session_name(session_name)}
    if external_id:
        params["ExternalId"] = external_id
    creds = sts.assume_role(**params)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region or sts.meta.region_name,
    )
