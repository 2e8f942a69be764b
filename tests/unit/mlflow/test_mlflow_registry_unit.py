"""MlflowRegistry input validation, error translation and configuration, with an in-memory fake client."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import RestException
from mlflow.store.entities.paged_list import PagedList

from mlops_pipeline.adapters.mlflow_registry import (
    PASSWORD_ENV,
    USERNAME_ENV,
    MlflowRegistry,
    configure_credentials,
    from_environment,
    tag_value_limit,
    validate_alias,
    validate_commit,
    validate_model_name,
    validate_tags,
    validate_version,
)
from mlops_pipeline.domain.errors import (
    ConfigError,
    InvalidRegistryInputError,
    ModelNotFoundError,
    RegistryAuthenticationError,
    RegistryError,
)

HEX = "0123456789abcdefABCDEF"


def rest_error(code: str, message: str = "boom") -> RestException:
    return RestException({"error_code": code, "message": message})


def version(number: str, run_id: str | None = "run1", aliases: list[str] | None = None) -> ModelVersion:
    return ModelVersion(
        name="churn",
        version=number,
        creation_timestamp=0,
        source="runs:/x/model",
        run_id=run_id,
        aliases=aliases,
    )


class FakeClient:
    """Records every call; behaviour is set per method through ``answers``."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name)
            if type(answer) is list:  # successive answers (PagedList is a list subclass: one answer)
                answer = answer.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer

        return call

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


RUN = SimpleNamespace(data=SimpleNamespace(metrics={"accuracy": 0.9}))


# -- validation --------------------------------------------------------------------------


@given(st.text(alphabet=HEX, min_size=4, max_size=64))
def test_hex_commits_are_accepted_in_lower_case(commit: str) -> None:
    assert validate_commit(commit) == commit.lower()


@given(st.text(min_size=1, max_size=80).filter(lambda s: any(c not in HEX for c in s)))
def test_any_non_hex_commit_is_refused(commit: str) -> None:
    with pytest.raises(InvalidRegistryInputError):
        validate_commit(commit)


@pytest.mark.parametrize("commit", ["", "abc", "a" * 65, "abc' or name LIKE '%", "abcd\n", "abcd "])
def test_commit_edge_cases_are_refused(commit: str) -> None:
    with pytest.raises(InvalidRegistryInputError, match="commit"):
        validate_commit(commit)


@given(st.text(min_size=1, max_size=40).filter(lambda s: any(c in "'\"%` \\=()\n" for c in s)))
def test_model_names_with_filter_syntax_are_refused(name: str) -> None:
    with pytest.raises(InvalidRegistryInputError):
        validate_model_name(name)


@pytest.mark.parametrize("name", ["churn", "churn-model", "churn_model.v2", "A1", "x" * 128])
def test_conservative_model_names_are_accepted(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".x", "x" * 129, "x/y", "ünïcode"])
def test_other_model_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRegistryInputError, match="model name"):
        validate_model_name(name)


@pytest.mark.parametrize(("given_version", "expected"), [("1", "1"), (3, "3"), ("42", "42")])
def test_versions_are_positive_integers(given_version: str | int, expected: str) -> None:
    assert validate_version(given_version) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "01", "1.0", "1 OR 1", "", True, 0, None])
def test_bad_versions_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidRegistryInputError, match="version"):
        validate_version(bad)


@pytest.mark.parametrize("alias", ["production", "staging", "champion_2", "a-b"])
def test_aliases_accepted(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "latest", "Latest", "v1", "V12", "1abc", "a'b", "a b", "x" * 64])
def test_bad_or_reserved_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidRegistryInputError, match="alias"):
        validate_alias(alias)


def test_tags_are_stringified() -> None:
    assert validate_tags({"a": 1, "b": 2.5, "c": "x", "d": True}) == {
        "a": "1",
        "b": "2.5",
        "c": "x",
        "d": "True",
    }


def test_tag_value_at_the_limit_passes_and_one_more_fails() -> None:
    limit = tag_value_limit()
    assert limit >= 5000
    assert len(validate_tags({"smoke_input": "x" * limit})["smoke_input"]) == limit
    with pytest.raises(InvalidRegistryInputError, match=f"at most {limit}"):
        validate_tags({"smoke_input": "x" * (limit + 1)})


@pytest.mark.parametrize("tags", [{"": "x"}, {"a b": "x"}, {"k'": "x"}, {"k": None}, {"x" * 251: "v"}])
def test_bad_tags_are_refused(tags: dict[str, Any]) -> None:
    with pytest.raises(InvalidRegistryInputError, match="tag"):
        validate_tags(tags)


# -- the adapter with a fake client -------------------------------------------------------


def test_invalid_input_never_reaches_the_client() -> None:
    client = FakeClient()
    registry = MlflowRegistry(client=client)  # type: ignore[arg-type]

    for call in (
        lambda: registry.find_version_by_commit("churn", "abc' or name LIKE '%"),
        lambda: registry.find_version_by_commit("x' OR '1'='1", "abcdef"),
        lambda: registry.get_version("churn", "1 OR 1"),
        lambda: registry.get_by_alias("churn", "latest"),
        lambda: registry.set_alias("churn", "production", "0"),
        lambda: registry.set_tags("churn", "1", {"ok": "1", "bad": "x" * (tag_value_limit() + 1)}),
    ):
        with pytest.raises(InvalidRegistryInputError):
            call()
    assert client.calls == []


def test_find_by_commit_builds_an_exact_filter_and_takes_the_highest_over_pages() -> None:
    client = FakeClient(
        search_model_versions=[
            PagedList([version("2"), version("10")], "next"),
            PagedList([version("9")], None),
        ],
        get_model_version=lambda name, number: version(number),
        get_run=RUN,
    )
    registry = MlflowRegistry(client=client)  # type: ignore[arg-type]

    found = registry.find_version_by_commit("churn", "ABCDEF12")

    assert found is not None and found.version == "10"
    searches = [kwargs for name, _, kwargs in client.calls if name == "search_model_versions"]
    assert [s["filter_string"] for s in searches] == ["name = 'churn' AND tags.git_commit = 'abcdef12'"] * 2
    assert [s["page_token"] for s in searches] == [None, "next"]
    assert found.metrics == {"accuracy": 0.9}


def test_find_by_commit_miss_is_none() -> None:
    client = FakeClient(search_model_versions=PagedList([], None))
    assert MlflowRegistry(client=client).find_version_by_commit("churn", "abcd") is None  # type: ignore[arg-type]
    assert client.names == ["search_model_versions"]


@pytest.mark.parametrize(
    "error",
    [
        rest_error("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=churn not found"),
        rest_error("INVALID_PARAMETER_VALUE", "Registered model alias production not found."),
    ],
)
def test_missing_model_or_alias_is_none(error: RestException) -> None:
    registry = MlflowRegistry(client=FakeClient(get_model_version_by_alias=error))  # type: ignore[arg-type]
    assert registry.get_champion("churn") is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (rest_error("INTERNAL_ERROR", "database is locked"), RegistryError),
        (rest_error("INVALID_PARAMETER_VALUE", "something else is wrong"), RegistryError),
        (rest_error("UNAUTHENTICATED", "You are not authenticated"), RegistryAuthenticationError),
        (rest_error("PERMISSION_DENIED", "Permission denied"), RegistryAuthenticationError),
    ],
)
def test_other_alias_errors_are_not_swallowed(error: RestException, expected: type[Exception]) -> None:
    registry = MlflowRegistry(client=FakeClient(get_model_version_by_alias=error))  # type: ignore[arg-type]
    with pytest.raises(expected):
        registry.get_champion("churn")


def test_get_champion_reads_alias_production_with_metrics_and_aliases() -> None:
    client = FakeClient(
        get_model_version_by_alias=version("4", aliases=["staging", "production"]), get_run=RUN
    )
    champion = MlflowRegistry(client=client).get_champion("churn")  # type: ignore[arg-type]

    assert champion is not None
    assert (champion.version, champion.aliases, champion.metrics) == (
        "4",
        ("production", "staging"),
        {"accuracy": 0.9},
    )
    assert client.calls[0] == ("get_model_version_by_alias", ("churn", "production"), {})


def test_get_version_absent_is_model_not_found() -> None:
    client = FakeClient(get_model_version=rest_error("RESOURCE_DOES_NOT_EXIST", "not found"))
    with pytest.raises(ModelNotFoundError, match="no version 7"):
        MlflowRegistry(client=client).get_version("churn", "7")  # type: ignore[arg-type]


def test_version_whose_run_was_deleted_has_no_metrics_but_other_run_errors_raise() -> None:
    gone = FakeClient(get_model_version=version("1"), get_run=rest_error("RESOURCE_DOES_NOT_EXIST"))
    assert MlflowRegistry(client=gone).get_version("churn", "1").metrics == {}  # type: ignore[arg-type]

    broken = FakeClient(get_model_version=version("1"), get_run=rest_error("INTERNAL_ERROR"))
    with pytest.raises(RegistryError):
        MlflowRegistry(client=broken).get_version("churn", "1")  # type: ignore[arg-type]


def test_writes_use_aliases_and_tags_never_stages() -> None:
    client = FakeClient(set_registered_model_alias=None, set_model_version_tag=None)
    registry = MlflowRegistry(client=client)  # type: ignore[arg-type]

    registry.set_alias("churn", "production", "3")
    registry.set_tags("churn", "3", {"approved_by": "U1", "prod_lambda_version": 5})

    assert client.calls == [
        ("set_registered_model_alias", ("churn", "production", "3"), {}),
        ("set_model_version_tag", ("churn", "3", "approved_by", "U1"), {}),
        ("set_model_version_tag", ("churn", "3", "prod_lambda_version", "5"), {}),
    ]
    assert not any("stage" in name for name in client.names)


# -- configuration --------------------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (USERNAME_ENV, PASSWORD_ENV):
        monkeypatch.setenv(name, "unset")  # records the original for the undo
        monkeypatch.delenv(name)


def test_from_environment_reads_the_secret_and_sets_the_client_credentials(no_credentials: None) -> None:
    arns: list[str] = []

    def reader(arn: str) -> dict[str, str]:
        arns.append(arn)
        return {"username": "pipeline", "password": "s3cret-value-123"}

    registry = from_environment(
        reader,
        environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "MLFLOW_CREDENTIALS_SECRET_ARN": "arn:x"},
    )

    assert arns == ["arn:x"]
    assert registry.client.tracking_uri == "http://127.0.0.1:5000"
    assert (os.environ[USERNAME_ENV], os.environ[PASSWORD_ENV]) == ("pipeline", "s3cret-value-123")


def test_from_environment_without_secret_arn_sets_no_credentials(no_credentials: None) -> None:
    def reader(arn: str) -> dict[str, str]:
        raise AssertionError("no secret should be read")

    registry = from_environment(reader, environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    assert registry.client.tracking_uri == "http://127.0.0.1:5000"
    assert USERNAME_ENV not in os.environ and PASSWORD_ENV not in os.environ


@pytest.mark.parametrize(
    ("environ", "secret", "match"),
    [
        ({}, None, "MLFLOW_TRACKING_URI"),
        ({"MLFLOW_TRACKING_URI": "  "}, None, "MLFLOW_TRACKING_URI"),
        (
            {"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_CREDENTIALS_SECRET_ARN": "arn:x"},
            None,
            "no secret reader",
        ),
        (
            {"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_CREDENTIALS_SECRET_ARN": "arn:x"},
            {"username": "u"},
            "arn:x",
        ),
        (
            {"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_CREDENTIALS_SECRET_ARN": "arn:x"},
            {"username": "", "password": "leaky-password"},
            "non-empty",
        ),
    ],
)
def test_from_environment_configuration_errors(
    no_credentials: None, environ: dict[str, str], secret: dict[str, str] | None, match: str
) -> None:
    reader = None if secret is None else (lambda arn: secret)
    with pytest.raises(ConfigError, match=match) as failure:
        from_environment(reader, environ=environ)  # type: ignore[arg-type]
    assert "leaky-password" not in str(failure.value)
    assert USERNAME_ENV not in os.environ


@pytest.mark.parametrize(("user", "password"), [("", "p"), ("u", ""), ("", "")])
def test_configure_credentials_refuses_empty_values(no_credentials: None, user: str, password: str) -> None:
    with pytest.raises(ConfigError):
        configure_credentials(user, password)
    assert USERNAME_ENV not in os.environ
