"""Fixtures for the AWS adapters: moto in-process with three accounts.

Accounts follow docs/contracts.md: tooling 111111111111, stage 222222222222, prod
333333333333. Set-up clients pick their account with moto's ``x-moto-account-id``
header; the code under test reaches stage/prod the real way, through STS AssumeRole
(moto maps the returned credentials to the role's account).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_moto_env import PROD, REGION, STAGE, TABLE, TOOLING, ClientFactory, in_account, make_target_account
from moto import mock_aws

from mlops_pipeline.adapters.aws.dynamodb import create_table


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call of the test; never the real AWS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def client_in(aws: None) -> ClientFactory:
    """``client_in(service, account)``: a boto3 client acting in that account."""

    def make(service: str, account: str) -> Any:
        return in_account(boto3.client(service, region_name=REGION), account)

    return make


@pytest.fixture
def accounts(client_in: ClientFactory) -> dict[str, str]:
    """Stage and prod, each with the function and its deploy role; maps environment to role ARN."""
    return {"stage": make_target_account(client_in, STAGE), "prod": make_target_account(client_in, PROD)}


@pytest.fixture
def tooling_sts(client_in: ClientFactory) -> Any:
    return client_in("sts", TOOLING)


@pytest.fixture
def ddb(client_in: ClientFactory) -> Any:
    """The pipeline table in the tooling account.

    Requests reach moto one at a time (no serialising lock): the race tests put the other
    writer's request between two of ours deterministically, so what refuses the late writer
    is the conditional write itself.
    """
    client = client_in("dynamodb", TOOLING)
    create_table(client, TABLE)
    return client
