"""Shared constants and helpers for the AWS adapter tests (three moto accounts)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from mlops_pipeline.domain.models import Artifact, ArtifactKind

REGION = "us-east-1"
TOOLING = "111111111111"
STAGE = "222222222222"
PROD = "333333333333"
FUNCTION = "mlops-inference"
TABLE = "mlops-pipeline"
ARTIFACTS_BUCKET = "mlops-artifacts-test"
IMAGE_REPOSITORY = f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/serving"

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


def handler_zip(answer: str) -> bytes:
    """A serving zip whose handler answers ``answer`` (as Terraform's placeholder and the build lay it out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("serving/__init__.py", "")
        archive.writestr("serving/handler.py", f"def handler(event, context):\n    return {answer!r}\n")
    return buffer.getvalue()


def upload_zip(client_in: ClientFactory, name: str, body: bytes | None = None) -> Artifact:
    """A zip artifact in the tooling account's versioned artifacts bucket (created on first use)."""
    s3 = client_in("s3", TOOLING)
    if ARTIFACTS_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        s3.put_bucket_versioning(Bucket=ARTIFACTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    data = body if body is not None else handler_zip(name)
    key = f"serving/model/model-{name}.zip"
    version = s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=data)["VersionId"]
    return Artifact(
        ArtifactKind.ZIP,
        f"s3://{ARTIFACTS_BUCKET}/{key}?versionId={version}",
        hashlib.sha256(data).hexdigest(),
    )


def image_artifact(tag: str) -> Artifact:
    """An image artifact as moto's stubbed ECR sees it: CodeSha256 is the sha256 of the URI text."""
    uri = f"{IMAGE_REPOSITORY}:{tag}"
    return Artifact(ArtifactKind.IMAGE, uri, hashlib.sha256(uri.encode()).hexdigest())


def make_target_account(
    client_in: ClientFactory, account: str, function_name: str = FUNCTION, package_type: str = "Zip"
) -> str:
    """An inference function (Terraform's placeholder code) plus a deploy role trusted by tooling;
    returns the role ARN."""
    iam = client_in("iam", account)
    exec_role = iam.create_role(
        RoleName="inference-exec", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )["Role"]["Arn"]
    deploy_role = iam.create_role(
        RoleName="mlops-deploy", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{TOOLING}:root"})
    )["Role"]["Arn"]
    lam = client_in("lambda", account)
    if package_type == "Image":
        lam.create_function(
            FunctionName=function_name,
            Role=exec_role,
            PackageType="Image",
            Code={"ImageUri": f"{IMAGE_REPOSITORY}:placeholder"},
        )
    else:
        lam.create_function(
            FunctionName=function_name,
            Role=exec_role,
            Runtime="python3.12",
            Handler="serving.handler.handler",
            Code={"ZipFile": handler_zip("placeholder")},
        )
    return str(deploy_role)
