"""Pure logic of the AWS adapters: version numbers, session names, timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_pipeline.adapters.aws.dynamodb import from_iso, to_iso
from mlops_pipeline.adapters.aws.lambda_deployer import LambdaDeployer, code_location, is_published_version
from mlops_pipeline.adapters.aws.session import sanitize_session_name
from mlops_pipeline.domain.errors import DeploymentError
from mlops_pipeline.domain.models import Artifact, ArtifactKind

STS_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)


class NoCallsClient:
    """A Lambda client that fails the test if the deployer reaches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the Lambda API was called ({name}) for an invalid request")


@pytest.mark.parametrize("version", ["1", "2", "10", "12345"])
def test_published_versions(version: str) -> None:
    assert is_published_version(version)


@pytest.mark.parametrize(
    "version", ["$LATEST", "latest", "", "0", "00", "-1", "1.5", " 1", "live", "²", "\u0661"]
)
def test_not_published_versions(version: str) -> None:
    assert not is_published_version(version)


@pytest.mark.parametrize("version", ["$LATEST", "0", "live", "²", ""])
def test_rollback_refuses_before_calling_aws(version: str) -> None:
    deployer = LambdaDeployer("fn", lambda_client=NoCallsClient())
    with pytest.raises(DeploymentError, match="published version number"):
        deployer.rollback(version)


def test_code_location_names_one_s3_object_version_or_the_image() -> None:
    zipped = Artifact(ArtifactKind.ZIP, "s3://art/serving/m/m-3.zip?versionId=abc.1", "ab" * 32)
    assert code_location(zipped) == {
        "S3Bucket": "art",
        "S3Key": "serving/m/m-3.zip",
        "S3ObjectVersion": "abc.1",
    }
    image = Artifact(ArtifactKind.IMAGE, "123.dkr.ecr.us-east-1.amazonaws.com/serving:m-3", "ab" * 32)
    assert code_location(image) == {"ImageUri": image.uri}


@given(st.text(max_size=200))
def test_session_names_are_always_valid_for_sts(name: str) -> None:
    assert STS_NAME.match(sanitize_session_name(name))


def test_session_name_keeps_valid_characters() -> None:
    arn = "arn:aws:states:us-east-1:111111111111:execution:pipeline:abc-123"
    assert sanitize_session_name(arn) == "arn-aws-states-us-east-1-111111111111-execution-pipeline-abc-123"
    assert sanitize_session_name("deploy@stage,v=1.2") == "deploy@stage,v=1.2"


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_iso_strings_sort_like_the_times(a: datetime, b: datetime) -> None:
    assert (to_iso(a) < to_iso(b)) == (a < b)
    assert from_iso(to_iso(a)) == a


def test_iso_is_utc_whatever_the_input_zone() -> None:
    cet = timezone(timedelta(hours=1))
    assert to_iso(datetime(2026, 1, 2, 4, 4, 5, tzinfo=cet)) == "2026-01-02T03:04:05.000000Z"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        to_iso(datetime(2026, 1, 2))
