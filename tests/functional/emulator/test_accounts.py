"""Accounts: credentials select the account; AssumeRole crosses into stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.local.emulator.emulator import ACCOUNTS, Emulator, EmulatorError

pytestmark = pytest.mark.functional


def test_each_account_sees_only_its_own_resources(emulator: Emulator) -> None:
    emulator.client("s3", "stage").create_bucket(Bucket="only-in-stage")

    for name, account_id in ACCOUNTS.items():
        assert emulator.client("sts", name).get_caller_identity()["Account"] == account_id
    stage_buckets = [b["Name"] for b in emulator.client("s3", "stage").list_buckets()["Buckets"]]
    tooling_buckets = [b["Name"] for b in emulator.client("s3", "tooling").list_buckets()["Buckets"]]
    assert "only-in-stage" in stage_buckets
    assert "only-in-stage" not in tooling_buckets


def test_assume_role_from_tooling_into_stage(emulator: Emulator) -> None:
    iam = emulator.client("iam", "stage")
    role_arn = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    assert role_arn.startswith("arn:aws:iam::222222222222:")

    stage = emulator.assume_role(role_arn, account="tooling", session_name="deployer")
    identity = stage.client("sts", endpoint_url=emulator.endpoint_url).get_caller_identity()

    assert identity["Account"] == "222222222222"
    assert identity["Arn"].endswith(":assumed-role/deploy/deployer")


def test_env_and_credentials_for_subprocesses(emulator: Emulator) -> None:
    env = emulator.env("prod")

    assert env["AWS_ENDPOINT_URL"] == emulator.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == emulator.credentials("333333333333")["AWS_ACCESS_KEY_ID"]
    assert env["AWS_ACCESS_KEY_ID"] != emulator.credentials("tooling")["AWS_ACCESS_KEY_ID"]
    with pytest.raises(EmulatorError, match="unknown account"):
        emulator.credentials("dev")


def test_a_second_emulator_in_the_same_process_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="another emulator"):
        Emulator(tmp_path).start()
    # The refused start did not disturb the running one.
    assert emulator.client("sts").get_caller_identity()["Account"] == ACCOUNTS["tooling"]
