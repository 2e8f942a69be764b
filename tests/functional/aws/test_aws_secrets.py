"""get_json_secret against moto's Secrets Manager through Powertools Parameters."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
from aws_moto_env import TOOLING, ClientFactory

from mlops_pipeline.adapters.aws.secrets import get_json_secret
from mlops_pipeline.domain.errors import ConfigError

pytestmark = pytest.mark.functional

TOKEN = "xoxb-very-secret-token-value"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
REQUIRE = ("bot_token", "signing_secret")


@pytest.fixture
def secrets(client_in: ClientFactory) -> Iterator[tuple[Any, list[str]]]:
    """A Secrets Manager client in tooling that counts GetSecretValue calls."""
    client = client_in("secretsmanager", TOOLING)
    calls: list[str] = []
    client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("GetSecretValue")
    )
    parameters.clear_caches()
    yield client, calls
    parameters.clear_caches()


def provider(client: Any) -> parameters.SecretsProvider:
    return parameters.SecretsProvider(boto3_client=client)


def create(client: Any, name: str, value: str) -> str:
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def assert_no_secret_in(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    for secret in (TOKEN, SIGNING):
        assert secret not in text
        assert secret[:12] not in text


def test_reads_and_caches(secrets: tuple[Any, list[str]]) -> None:
    client, calls = secrets
    arn = create(client, "slack", json.dumps({"bot_token": TOKEN, "signing_secret": SIGNING}))
    p = provider(client)

    first = get_json_secret(arn, require=REQUIRE, provider=p)
    second = get_json_secret(arn, require=REQUIRE, provider=p)

    assert first == {"bot_token": TOKEN, "signing_secret": SIGNING}
    assert second == first
    assert calls == ["GetSecretValue"]


def test_cache_expires_after_max_age(secrets: tuple[Any, list[str]]) -> None:
    client, calls = secrets
    arn = create(client, "slack", json.dumps({"bot_token": TOKEN, "signing_secret": SIGNING}))
    p = provider(client)
    get_json_secret(arn, max_age=0, provider=p)
    get_json_secret(arn, max_age=0, provider=p)
    assert calls == ["GetSecretValue", "GetSecretValue"]


def test_default_provider_is_cached_too(secrets: tuple[Any, list[str]]) -> None:
    # Powertools' module-wide provider talks to the default account of the default session.
    default_client = boto3.client("secretsmanager")
    arn = create(default_client, "slack-default", json.dumps({"bot_token": TOKEN, "signing_secret": SIGNING}))
    assert get_json_secret(arn, require=REQUIRE)["bot_token"] == TOKEN

    calls: list[str] = []
    DEFAULT_PROVIDERS["secrets"].client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("GetSecretValue")
    )
    assert get_json_secret(arn, require=REQUIRE)["signing_secret"] == SIGNING
    assert calls == []
    DEFAULT_PROVIDERS["secrets"].clear_cache()
    assert get_json_secret(arn, require=REQUIRE)["signing_secret"] == SIGNING
    assert calls == ["GetSecretValue"]


def test_missing_secret(secrets: tuple[Any, list[str]]) -> None:
    client, _ = secrets
    with pytest.raises(ConfigError, match="cannot read secret nope: ResourceNotFoundException") as info:
        get_json_secret("nope", provider=provider(client))
    assert info.value.__cause__ is None


def test_not_json_names_no_value(secrets: tuple[Any, list[str]]) -> None:
    client, _ = secrets
    arn = create(client, "plain", f"token={TOKEN} signing={SIGNING}")
    with pytest.raises(ConfigError, match="is not valid JSON") as info:
        get_json_secret(arn, provider=provider(client))
    assert_no_secret_in(info.value)
    assert info.value.__context__ is None


@pytest.mark.parametrize("document", [json.dumps([TOKEN, SIGNING]), json.dumps(TOKEN)])
def test_json_but_not_an_object(secrets: tuple[Any, list[str]], document: str) -> None:
    client, _ = secrets
    arn = create(client, "list", document)
    with pytest.raises(ConfigError, match="must be a JSON object") as info:
        get_json_secret(arn, provider=provider(client))
    assert_no_secret_in(info.value)


def test_missing_keys_are_named_values_are_not(secrets: tuple[Any, list[str]]) -> None:
    client, _ = secrets
    arn = create(client, "partial", json.dumps({"bot_token": TOKEN, "signing_secret": ""}))
    with pytest.raises(ConfigError, match=r"lacks the keys \['signing_secret'\]") as info:
        get_json_secret(arn, require=REQUIRE, provider=provider(client))
    assert_no_secret_in(info.value)


def test_non_string_values_are_refused(secrets: tuple[Any, list[str]]) -> None:
    client, _ = secrets
    arn = create(client, "typed", json.dumps({"bot_token": TOKEN, "signing_secret": {"v": SIGNING}}))
    with pytest.raises(ConfigError, match=r"values of \['signing_secret'\] must be strings") as info:
        get_json_secret(arn, provider=provider(client))
    assert_no_secret_in(info.value)


def test_empty_secret_id() -> None:
    with pytest.raises(ConfigError, match="no secret id"):
        get_json_secret("")
