"""The emulated STS verifies an identity proof's signature, as AWS does.

The prod rollback from the terminal sends a SigV4-signed ``GetCallerIdentity`` (the identity
proof) to the rollback function, which forwards it to STS and believes only STS's answer.
moto answers any signature; AWS answers only a valid one, and the function's refusal of a
forged or altered proof rests on that. These run the real proof (``rollback_cmd.identity_proof``)
through the function's own check (``handlers.rollback.verified_caller``) against the emulator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from mlops_pipeline.cli.rollback_cmd import identity_proof
from mlops_pipeline.domain.prod_rollback import AUDIENCE_HEADER, NONCE_HEADER
from mlops_pipeline.handlers.rollback import verified_caller
from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

FUNCTION = "mlops-rollback-prod"


@pytest.fixture(scope="module")
def operator(emulator: Emulator) -> dict[str, str]:
    """An IAM user with an access key of its own (an operator at a terminal)."""
    iam = emulator.client("iam")
    arn = iam.create_user(UserName="proof-operator")["User"]["Arn"]
    key = iam.create_access_key(UserName="proof-operator")["AccessKey"]
    return {"arn": arn, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


@pytest.fixture
def function_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the rollback function sees in its runtime: its name, its region, STS at the emulator."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setenv("AWS_REGION", emulator.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "function-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "function-secret")


def proof(emulator: Emulator, key: str, secret: str, audience: str = FUNCTION) -> dict[str, Any]:
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=emulator.region)
    return identity_proof(session, emulator.region, audience, emulator.endpoint_url)


@pytest.mark.usefixtures("function_env")
def test_a_valid_proof_names_its_signer(emulator: Emulator, operator: dict[str, str]) -> None:
    assert verified_caller(proof(emulator, operator["key"], operator["secret"])) == operator["arn"]


@pytest.mark.usefixtures("function_env")
def test_two_proofs_made_in_one_second_differ_and_each_holds(
    emulator: Emulator, operator: dict[str, str]
) -> None:
    # SigV4 is deterministic: without the signed nonce two proofs of one second would be one
    # single-use token, and the second command would be refused as a replay.
    first, second = (proof(emulator, operator["key"], operator["secret"]) for _ in range(2))
    assert first["headers"]["Authorization"] != second["headers"]["Authorization"]
    assert NONCE_HEADER in first["headers"]["Authorization"]  # signed: it cannot be swapped
    assert verified_caller(first) == verified_caller(second) == operator["arn"]


@pytest.mark.usefixtures("function_env")
def test_a_proof_signed_with_the_wrong_secret_is_refused(
    emulator: Emulator, operator: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=r"STS refused the identity proof \(403\)"):
        verified_caller(proof(emulator, operator["key"], "not-the-secret"))


@pytest.mark.usefixtures("function_env")
def test_a_proof_for_another_function_cannot_be_redirected(
    emulator: Emulator, operator: dict[str, str]
) -> None:
    # Made for another function, its audience header rewritten afterwards: the signature no longer holds.
    other = proof(emulator, operator["key"], operator["secret"], audience="some-other-function")
    headers = {k: (FUNCTION if k.lower() == AUDIENCE_HEADER else v) for k, v in other["headers"].items()}
    with pytest.raises(ValueError, match=r"STS refused the identity proof \(403\)"):
        verified_caller({**other, "headers": headers})


@pytest.mark.usefixtures("function_env")
def test_a_proof_with_an_unknown_key_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match=r"STS refused the identity proof \(403\)"):
        verified_caller(proof(emulator, "AKIAIOSFODNN7EXAMPLE", "made-up"))


@pytest.mark.usefixtures("function_env")
def test_a_proof_older_than_15_minutes_is_refused(
    emulator: Emulator, operator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signed 16 minutes ago, by the operator's clock.
    import botocore.auth

    now = botocore.auth.get_current_datetime
    with monkeypatch.context() as clock:
        clock.setattr(botocore.auth, "get_current_datetime", lambda: now() - timedelta(minutes=16))
        stale = proof(emulator, operator["key"], operator["secret"])
    assert verified_caller(proof(emulator, operator["key"], operator["secret"])) == operator["arn"]
    with pytest.raises(ValueError, match=r"STS refused the identity proof \(403\)"):
        verified_caller(stale)


def test_an_ordinary_get_caller_identity_is_not_checked(emulator: Emulator) -> None:
    # The pipeline's own parts call STS with the emulator's placeholder keys, as moto allows.
    sts = boto3.client(
        "sts",
        endpoint_url=emulator.endpoint_url,
        region_name=emulator.region,
        aws_access_key_id="placeholder",
        aws_secret_access_key="placeholder",
    )
    assert sts.get_caller_identity()["Account"]
