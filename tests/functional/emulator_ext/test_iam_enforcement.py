"""Roles tagged ``mlops:untrusted = "true"`` are held to their IAM policies; other callers are not.

The training step's role runs the model author's code: on AWS it may write its output and
nothing else, and the emulator must refuse what AWS would (an untagged role, like moto by
default, is not checked at all).
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

BUCKET = "iam-enforcement-artifacts"
TABLE = "iam-enforcement-table"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
ONLY_TRAIN_OUTPUT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/train/*"}
    ],
}
UNTRUSTED = [{"Key": "mlops:untrusted", "Value": "true"}]


@pytest.fixture(scope="module")
def secret_arn(emulator: Emulator) -> str:
    """A bucket, a table and a secret in the tooling account (made with the admin's keys)."""
    emulator.client("s3").create_bucket(Bucket=BUCKET)
    emulator.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return str(emulator.client("secretsmanager").create_secret(Name="iam-slack", SecretString="xoxb")["ARN"])


Clients = Callable[..., BaseClient]


def session_of(emulator: Emulator, role: str, tags: list[dict[str, str]]) -> tuple[Clients, dict[str, str]]:
    """(client factory, credentials) of an STS session of a new role allowed only train/* puts."""
    iam = emulator.client("iam")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST), Tags=tags)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role, PolicyName="least-privilege", PolicyDocument=json.dumps(ONLY_TRAIN_OUTPUT)
    )
    creds = emulator.client("sts").assume_role(RoleArn=arn, RoleSessionName="build")["Credentials"]

    def client(service: str, secret: str | None = None, config: Config | None = None) -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=emulator.region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=secret or creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            config=config,
        )

    return client, creds


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    return dict(caught.value.response["Error"])


def test_an_untrusted_role_may_do_only_what_its_policy_allows(emulator: Emulator, secret_arn: str) -> None:
    client, _ = session_of(emulator, "iam-train-untrusted", UNTRUSTED)
    s3 = client("s3")

    s3.put_object(Bucket=BUCKET, Key="train/run-1/output.tar.gz", Body=b"model")
    s3.upload_fileobj(io.BytesIO(b"0" * (9 * 1024 * 1024)), BUCKET, "train/run-1/big")  # multipart
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="serving/model.zip", Body=b"x"))["Code"] == (
        "AccessDenied"
    )
    assert (
        error_of(lambda: s3.get_object(Bucket=BUCKET, Key="train/run-1/output.tar.gz"))["Code"]
        == "AccessDenied"
    )

    denied = error_of(lambda: client("secretsmanager").get_secret_value(SecretId=secret_arn))
    assert denied["Code"] == "AccessDeniedException"  # the JSON protocol's name, as AWS answers
    assert denied["Message"] == (
        "User: arn:aws:sts::111111111111:assumed-role/iam-train-untrusted/build "
        "is not authorized to perform: secretsmanager:GetSecretValue"
    )
    put_item = lambda: client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "x"}})  # noqa: E731
    assert error_of(put_item)["Code"] == "AccessDeniedException"
    # Always allowed, on AWS too.
    assert client("sts").get_caller_identity()["Arn"].endswith("assumed-role/iam-train-untrusted/build")

    admin = emulator.client("s3")
    assert admin.get_object(Bucket=BUCKET, Key="train/run-1/output.tar.gz")["Body"].read() == b"model"
    assert "Contents" not in admin.list_objects_v2(Bucket=BUCKET, Prefix="serving/")


def test_other_signing_forms_are_checked_too(emulator: Emulator, secret_arn: str) -> None:
    """A wrong secret fails the signature; SigV2 and presigned URLs meet the same policy."""
    client, _ = session_of(emulator, "iam-train-forms", UNTRUSTED)
    emulator.client("s3").put_object(Bucket=BUCKET, Key="pipeline/src.zip", Body=b"src")

    forged = client("secretsmanager", secret="not-the-secret")
    assert (
        error_of(lambda: forged.get_secret_value(SecretId=secret_arn))["Code"] == "InvalidSignatureException"
    )
    sigv2 = client("s3", config=Config(signature_version="s3"))
    assert error_of(lambda: sigv2.get_object(Bucket=BUCKET, Key="pipeline/src.zip"))["Code"] == "AccessDenied"
    sigv2.put_object(Bucket=BUCKET, Key="train/run-2/output.tar.gz", Body=b"ok")
    for config in (None, Config(signature_version="s3v4")):
        url = client("s3", config=config).generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "pipeline/src.zip"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=30)
        assert caught.value.code == 403


def test_an_untagged_role_is_not_checked(emulator: Emulator, secret_arn: str) -> None:
    """moto's default, kept for the pipeline's own roles (and the reason the test above can fail)."""
    client, _ = session_of(emulator, "iam-train-trusted", [{"Key": "team", "Value": "ml"}])
    s3 = client("s3")

    s3.put_object(Bucket=BUCKET, Key="train/run-3/output.tar.gz", Body=b"model")
    s3.put_object(Bucket=BUCKET, Key="serving/other.zip", Body=b"x")
    assert s3.get_object(Bucket=BUCKET, Key="serving/other.zip")["Body"].read() == b"x"
    assert client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"] == "xoxb"
    client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "x"}})
