"""A TLS-only bucket policy, as the s3_bucket module writes it, lets requests to the emulator through.

Every AWS SDK call is TLS on AWS; the emulator's loopback HTTP stands in for it. moto cannot
evaluate the ``Bool`` condition and applied the deny to every request, so the build could not
upload a serving zip to the artifacts bucket that Terraform creates.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional


def policy(bucket: str, *extra: dict[str, object]) -> str:
    arn = f"arn:aws:s3:::{bucket}"
    deny_insecure = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetObjectVersion"],
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [deny_insecure, *extra]})


def test_objects_of_a_tls_only_bucket_can_be_written_and_read(emulator: Emulator) -> None:
    s3 = emulator.client("s3", "tooling")
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(Bucket="tls-only", Policy=policy("tls-only"))
    s3.put_object(Bucket="tls-only", Key="serving/m/m-1.zip", Body=b"zip")
    assert s3.get_object(Bucket="tls-only", Key="serving/m/m-1.zip")["Body"].read() == b"zip"


def test_an_unconditional_deny_still_denies(emulator: Emulator) -> None:
    s3 = emulator.client("s3", "tooling")
    s3.create_bucket(Bucket="deny-writes")
    deny_writes = {
        "Sid": "NoWrites",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::deny-writes/*",
    }
    s3.put_bucket_policy(Bucket="deny-writes", Policy=policy("deny-writes", deny_writes))
    with pytest.raises(ClientError, match=r"403|AccessDenied|Forbidden"):
        s3.put_object(Bucket="deny-writes", Key="k", Body=b"x")
