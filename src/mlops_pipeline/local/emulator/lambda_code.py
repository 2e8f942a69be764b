"""Lambda code from S3 as AWS reads it: exactly the object version asked for, from the bucket's region.

moto 5.2.5 finds a bucket of another account (its S3 backend resolves bucket names globally),
but ignores ``S3ObjectVersion`` and takes the latest version, and never compares regions. The
pipeline deploys one object version of the tooling account's artifacts bucket to the stage and
prod functions (``UpdateFunctionCode`` with ``S3Bucket``/``S3Key``/``S3ObjectVersion``), so the
version matters: a later build of the same key must not change what a deploy installs.

``install()`` (idempotent) wraps ``LambdaFunction._set_function_code``: code given as an S3
location is read here, with AWS's error texts; everything else (``ZipFile``, ``ImageUri``) goes
to moto. Bucket policies are not evaluated (moto does not enforce IAM).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaFunction, _s3_content
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeKey, s3_backends

_lock = threading.Lock()
_original: Any = None


def install() -> None:
    """Route S3-located function code through ``read_code`` (safe to call again)."""
    global _original
    with _lock:
        if _original is not None:
            return
        _original = LambdaFunction._set_function_code

        def set_function_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
            spec = updated_spec
            if spec.get("DryRun") or "S3Bucket" not in spec or "S3Key" not in spec:
                _original(self, spec)
                return
            from_update = spec is not self.code  # moto passes self.code itself at creation
            key = read_code(spec, self.region)
            self.code_bytes, self.code_size, self.code_sha_256, self.code_digest = _s3_content(key)
            if from_update:
                self.code.pop("ZipFile", None)
                for name in ("S3Bucket", "S3Key", "S3ObjectVersion"):
                    if spec.get(name):
                        self.code[name] = spec[name]
                    else:
                        self.code.pop(name, None)

        LambdaFunction._set_function_code = set_function_code  # type: ignore[method-assign]


def _get_object_error(code: str, message: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    )


def read_code(spec: Mapping[str, Any], region: str) -> FakeKey:
    """The S3 object (version) a CreateFunction/UpdateFunctionCode names, wherever its account is."""
    bucket_name, key_name = str(spec["S3Bucket"]), str(spec["S3Key"])
    version = spec.get("S3ObjectVersion") or None
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist")
    partition, account_id = owner
    backend = s3_backends[account_id][partition]
    try:
        bucket = backend.get_bucket(bucket_name)
    except MissingBucket:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist") from None
    if bucket.region_name != region:
        # Lambda reads code only from a bucket in the function's own region.
        raise _get_object_error("PermanentRedirect", f"The bucket is in this region: {bucket.region_name}.")
    key = backend.get_object(bucket_name, key_name, version_id=version)
    if key is None:
        if version is not None and backend.get_object(bucket_name, key_name) is not None:
            raise _get_object_error("NoSuchVersion", "The specified version does not exist.")
        raise _get_object_error("NoSuchKey", "The specified key does not exist.")
    return key
