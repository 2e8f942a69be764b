"""Zip code from the tooling account's bucket, deployed to stage by object version, run as deployed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

TRUST_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
BUCKET = "tooling-artifacts-code"
KEY = "serving/churn/churn-1.zip"


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def role(emu: Emulator, account: str) -> str:
    iam = emu.client("iam", account)
    try:
        return str(iam.get_role(RoleName="s3-code-role")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName="s3-code-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
        )


def handler_zip(answer: str) -> bytes:
    return make_zip(
        {"serving/__init__.py": "", "serving/handler.py": f"def handler(e, c):\n    return {answer!r}\n"}
    )


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(scope="module")
def versions(emulator: Emulator) -> dict[str, tuple[str, bytes]]:
    """Two versions of the same key in a versioned tooling bucket: first and second."""
    s3 = emulator.client("s3", "tooling")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    out = {}
    for name in ("first", "second"):
        body = handler_zip(name)
        out[name] = (s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"], body)
    return out


@pytest.fixture(scope="module")
def stage_function(emulator: Emulator) -> str:
    emulator.client("lambda", "stage").create_function(
        FunctionName="from-s3",
        Role=role(emulator, "stage"),
        Runtime="python3.12",
        Handler="serving.handler.handler",
        Code={
            "ZipFile": make_zip(
                {
                    "serving/__init__.py": "",
                    "serving/handler.py": "def handler(e, c):\n    return 'placeholder'\n",
                }
            )
        },
        Architectures=["arm64"],
    )
    return "from-s3"


def invoke(emu: Emulator, name: str) -> Any:
    return json.loads(emu.client("lambda", "stage").invoke(FunctionName=name)["Payload"].read())


def test_update_from_another_accounts_bucket_installs_exactly_the_named_version(
    emulator: Emulator, versions: dict[str, tuple[str, bytes]], stage_function: str
) -> None:
    lam = emulator.client("lambda", "stage")
    version_id, body = versions["first"]  # not the latest: the key was written again since
    updated = lam.update_function_code(
        FunctionName=stage_function, S3Bucket=BUCKET, S3Key=KEY, S3ObjectVersion=version_id
    )
    assert updated["CodeSha256"] == b64sha(body)
    assert updated["CodeSize"] == len(body)
    assert invoke(emulator, stage_function) == "first"

    published = lam.publish_version(FunctionName=stage_function)["Version"]
    second_id = versions["second"][0]
    lam.update_function_code(
        FunctionName=stage_function, S3Bucket=BUCKET, S3Key=KEY, S3ObjectVersion=second_id
    )
    assert invoke(emulator, stage_function) == "second"
    # The published version keeps the code it was published with.
    assert invoke(emulator, f"{stage_function}:{published}") == "first"
    assert lam.get_function(FunctionName=stage_function, Qualifier=published)["Configuration"][
        "CodeSha256"
    ] == b64sha(body)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"S3ObjectVersion": "no-such-version"}, "NoSuchVersion"),
        ({"S3Key": "serving/none.zip"}, "NoSuchKey"),
        ({"S3Bucket": "no-such-bucket-anywhere"}, "NoSuchBucket"),
    ],
)
def test_missing_code_is_refused_as_lambda_refuses_it(
    emulator: Emulator,
    versions: dict[str, tuple[str, bytes]],
    stage_function: str,
    change: dict[str, str],
    words: str,
) -> None:
    lam = emulator.client("lambda", "stage")
    before = lam.get_function_configuration(FunctionName=stage_function)["CodeSha256"]
    spec = {"S3Bucket": BUCKET, "S3Key": KEY, "S3ObjectVersion": versions["first"][0], **change}
    with pytest.raises(ClientError, match=f"InvalidParameterValueException.*S3 Error Code: {words}"):
        lam.update_function_code(FunctionName=stage_function, **spec)
    assert lam.get_function_configuration(FunctionName=stage_function)["CodeSha256"] == before


def test_create_function_from_s3_reads_the_bucket_across_accounts(
    emulator: Emulator, versions: dict[str, tuple[str, bytes]]
) -> None:
    version_id, body = versions["second"]
    created = emulator.client("lambda", "prod").create_function(
        FunctionName="created-from-s3",
        Role=role(emulator, "prod"),
        Runtime="python3.12",
        Handler="serving.handler.handler",
        Code={"S3Bucket": BUCKET, "S3Key": KEY, "S3ObjectVersion": version_id},
    )
    assert created["CodeSha256"] == b64sha(body)
    got = json.loads(
        emulator.client("lambda", "prod").invoke(FunctionName="created-from-s3")["Payload"].read()
    )
    assert got == "second"
