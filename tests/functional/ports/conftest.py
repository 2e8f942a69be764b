"""Fixtures of the port-contract suite: every port fixture is parametrized by backend.

Each scenario runs once per backend: ``test_x[fake]`` and ``test_x[dynamodb]`` (the stores on
moto), ``[mlflow]`` (a real ``mlflow server``, shared with ``functional/mlflow``),
``[stepfunctions]`` (moto's interpreter), ``[slack]`` (the local Slack stand-in). The fixtures
are typed with the Protocols, so mypy checks both the fakes and the adapters against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops_pipeline.adapters.aws.dynamodb import (
    DynamoApprovalStore,
    DynamoDeployedStateStore,
    DynamoLockStore,
    DynamoRunStore,
    create_table,
)
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer
from mlops_pipeline.ports import ApprovalStore, DeployedStateStore, LockStore, RunStore
from tests.fakes import FakeApprovalStore, FakeDeployedStateStore, FakeLockStore, FakeRunStore

from .backends import (
    BOT_TOKEN,
    REGION,
    TABLE,
    CallbacksBackend,
    ChatBackend,
    RegistryBackend,
    fake_callbacks,
    fake_chat,
    fake_registry,
    mlflow_registry,
    slack_chat,
    stepfunctions_callbacks,
)

STORES = ["fake", "dynamodb"]


# -- AWS on moto -----------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call of the test; never the real AWS."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_STEPFUNCTIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def ddb(aws: None) -> Any:
    """A DynamoDB client with the pipeline table."""
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    return client


# -- the four stores -------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def approval_store(request: pytest.FixtureRequest) -> ApprovalStore:
    if request.param == "fake":
        return FakeApprovalStore()
    return DynamoApprovalStore(TABLE, client=request.getfixturevalue("ddb"))


@pytest.fixture(params=STORES)
def run_store(request: pytest.FixtureRequest) -> RunStore:
    if request.param == "fake":
        return FakeRunStore()
    return DynamoRunStore(TABLE, client=request.getfixturevalue("ddb"))


@pytest.fixture(params=STORES)
def lock_store(request: pytest.FixtureRequest) -> LockStore:
    if request.param == "fake":
        return FakeLockStore()
    return DynamoLockStore(TABLE, client=request.getfixturevalue("ddb"))


@pytest.fixture(params=STORES)
def deployed_store(request: pytest.FixtureRequest) -> DeployedStateStore:
    if request.param == "fake":
        return FakeDeployedStateStore()
    return DynamoDeployedStateStore(TABLE, client=request.getfixturevalue("ddb"))


# -- registry, callbacks, chat ---------------------------------------------------------------


@pytest.fixture(params=["fake", "mlflow"])
def registry_backend(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryBackend:
    if request.param == "fake":
        return fake_registry()
    return mlflow_registry(request.getfixturevalue("mlflow_server"), tmp_path)


@pytest.fixture(params=["fake", "stepfunctions"])
def callbacks_backend(request: pytest.FixtureRequest) -> CallbacksBackend:
    if request.param == "fake":
        return fake_callbacks()
    request.getfixturevalue("aws")
    return stepfunctions_callbacks()


@pytest.fixture(params=["fake", "slack"])
def chat_backend(request: pytest.FixtureRequest) -> Iterator[ChatBackend]:
    if request.param == "fake":
        yield fake_chat()
        return
    with LocalSlackServer(BOT_TOKEN, "ports-test-signing-secret") as slack:
        yield slack_chat(slack)
