"""Published versions keep their own code: an alias on v1 runs v1 after the code moved on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional


def _source(label: str) -> dict[str, str]:
    return {
        "app.py": "def handler(event, context):\n"
        f"    return {{'code': '{label}', 'v': context.function_version,"
        " 'arn': context.invoked_function_arn.split(':', 6)[-1]}\n"
    }


def _run(emu: Emulator, name: str) -> Any:
    return json.loads(emu.client("lambda").invoke(FunctionName=name)["Payload"].read())


def test_alias_runs_the_code_of_its_version(
    emulator: Emulator,
    create_zip_function: Callable[..., dict[str, Any]],
    zip_bytes: Callable[[dict[str, str]], bytes],
) -> None:
    lam = emulator.client("lambda")
    create_zip_function("versioned", _source("one"))
    v1 = lam.publish_version(FunctionName="versioned")
    lam.update_function_code(FunctionName="versioned", ZipFile=zip_bytes(_source("two")))
    v2 = lam.publish_version(FunctionName="versioned")
    lam.create_alias(FunctionName="versioned", Name="live", FunctionVersion=v1["Version"])

    assert (v1["Version"], v2["Version"]) == ("1", "2")
    assert v1["CodeSha256"] != v2["CodeSha256"]
    assert _run(emulator, "versioned:live") == {"code": "one", "v": "1", "arn": "versioned:live"}
    assert _run(emulator, "versioned:1") == {"code": "one", "v": "1", "arn": "versioned:1"}
    assert _run(emulator, "versioned:2") == {"code": "two", "v": "2", "arn": "versioned:2"}
    assert _run(emulator, "versioned") == {"code": "two", "v": "$LATEST", "arn": "versioned"}
    by_qualifier = lam.invoke(FunctionName="versioned", Qualifier="live")
    assert json.loads(by_qualifier["Payload"].read()) == {"code": "one", "v": "1", "arn": "versioned:live"}
    assert by_qualifier["ExecutedVersion"] == "1"
    assert (
        lam.get_function(FunctionName="versioned", Qualifier="1")["Configuration"]["CodeSha256"]
        == v1["CodeSha256"]
    )


def test_image_version_keeps_its_image_uri(emulator: Emulator) -> None:
    iam = emulator.client("iam", "prod")
    role = iam.create_role(RoleName="img-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = emulator.client("lambda", "prod")
    repo = "333333333333.dkr.ecr.us-east-1.amazonaws.com/serving"
    lam.create_function(FunctionName="img", Role=role, PackageType="Image", Code={"ImageUri": f"{repo}:a"})
    v1 = lam.publish_version(FunctionName="img")["Version"]
    lam.update_function_code(FunctionName="img", ImageUri=f"{repo}:b")
    v2 = lam.publish_version(FunctionName="img")["Version"]

    assert lam.get_function(FunctionName="img", Qualifier=v1)["Code"]["ImageUri"] == f"{repo}:a"
    assert lam.get_function(FunctionName="img", Qualifier=v2)["Code"]["ImageUri"] == f"{repo}:b"
    assert lam.get_function(FunctionName="img")["Code"]["ImageUri"] == f"{repo}:b"


def test_code_from_s3_runs(
    emulator: Emulator,
    create_zip_function: Callable[..., dict[str, Any]],
    zip_bytes: Callable[[dict[str, str]], bytes],
) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="fn.zip", Body=zip_bytes(_source("from-s3")))
    create_zip_function("from-s3", _source("inline"))

    emulator.client("lambda").update_function_code(
        FunctionName="from-s3", S3Bucket="artifacts", S3Key="fn.zip"
    )

    assert _run(emulator, "from-s3")["code"] == "from-s3"
