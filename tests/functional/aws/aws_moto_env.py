"""Shared constants and helpers for the AWS adapter tests (three moto accounts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"
TOOLING = "111111111111"
STAGE = "222222222222"
PROD = "333333333333"
FUNCTION = "mlops-inference"
TABLE = "mlops-pipeline"

ClientFactory = Callable[[str, str], Any]


def in_account(client: Any, account: str) -> Any:
    """Route every request of ``client`` to ``account`` (moto's ``x-moto-account-id`` header)."""

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-send.*.*", add_header)
    return client


def _trust(principal: dict[str, str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def make_target_account(client_in: ClientFactory, account: str, function_name: str = FUNCTION) -> str:
    """An inference function plus a deploy role trusted by tooling; returns the role ARN."""
    iam = client_in("iam", account)
    exec_role = iam.create_role(
        RoleName="inference-exec", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )["Role"]["Arn"]
    deploy_role = iam.create_role(
        RoleName="mlops-deploy", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{TOOLING}:root"})
    )["Role"]["Arn"]
    client_in("lambda", account).create_function(
        FunctionName=function_name,
        Role=exec_role,
        PackageType="Image",
        Code={"ImageUri": f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/serving:bootstrap"},
    )
    return str(deploy_role)
