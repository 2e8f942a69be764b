"""MlflowRegistry against a real ``mlflow server`` (SQLite backend, proxied artifacts)."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient

from mlops_pipeline.adapters.mlflow_registry import MlflowRegistry, tag_value_limit
from mlops_pipeline.domain.errors import InvalidRegistryInputError, ModelNotFoundError

pytestmark = pytest.mark.functional


def _sha() -> str:
    return uuid.uuid4().hex + "abcdef01"  # 40 hex characters, like a git commit


def test_find_version_by_commit_hit_returns_version_with_metrics(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    commit = _sha()
    models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})
    version = models.version(name, {"accuracy": 0.91, "f1": 0.8}, {"git_commit": commit})

    found = registry.find_version_by_commit(name, commit)

    assert found is not None
    assert (found.name, found.version) == (name, version)
    assert found.tags["git_commit"] == commit
    assert found.metrics == {"accuracy": pytest.approx(0.91), "f1": pytest.approx(0.8)}
    assert found.source == f"runs:/{found.run_id}/model"


def test_find_version_by_commit_accepts_upper_case_commit(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    commit = _sha()
    version = models.version(name, {"accuracy": 0.7}, {"git_commit": commit})

    found = registry.find_version_by_commit(name, commit.upper())

    assert found is not None and found.version == version


def test_find_version_by_commit_miss_returns_none(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    assert registry.find_version_by_commit(name, _sha()) is None
    assert registry.find_version_by_commit(models.new_name(), _sha()) is None


def test_find_version_by_commit_does_not_match_other_models(registry: MlflowRegistry, models) -> None:
    commit = _sha()
    other = models.new_name()
    models.version(other, {"accuracy": 0.5}, {"git_commit": commit})

    assert registry.find_version_by_commit(models.new_name(), commit) is None
    found = registry.find_version_by_commit(other, commit)
    assert found is not None and found.name == other


def test_find_version_by_commit_takes_highest_of_several(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    commit = _sha()
    versions = [models.version(name, {"accuracy": 0.1 * i}, {"git_commit": commit}) for i in range(1, 4)]
    models.version(name, {"accuracy": 0.99}, {"git_commit": _sha()})  # a later, unrelated version

    found = registry.find_version_by_commit(name, commit)

    assert found is not None
    assert found.version == max(versions, key=int) == "3"
    assert found.metrics["accuracy"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "commit",
    ["abc' or name LIKE '%", "abcd' OR tags.git_commit != '", "%", "abcd%", "", "abc", "g" * 40, "a" * 65],
)
def test_find_version_by_commit_refuses_injection(registry: MlflowRegistry, models, commit: str) -> None:
    name = models.new_name()
    models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    with pytest.raises(InvalidRegistryInputError, match="commit"):
        registry.find_version_by_commit(name, commit)


@pytest.mark.parametrize("name", ["x' OR name LIKE '%", "%", "a b", "", "-leading-dash", "a" * 129])
def test_model_name_injection_refused(registry: MlflowRegistry, name: str) -> None:
    with pytest.raises(InvalidRegistryInputError, match="model name"):
        registry.find_version_by_commit(name, _sha())
    with pytest.raises(InvalidRegistryInputError, match="model name"):
        registry.get_champion(name)


def test_champion_is_none_for_a_first_model(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    assert registry.get_champion(name) is None
    assert registry.get_champion(models.new_name()) is None  # model not registered at all
    assert registry.get_by_alias(name, "staging") is None


def test_set_alias_production_makes_champion_and_alias_moves(
    registry: MlflowRegistry, models, mlflow_client: MlflowClient
) -> None:
    name = models.new_name()
    v1 = models.version(name, {"accuracy": 0.8}, {"git_commit": _sha()})
    v2 = models.version(name, {"accuracy": 0.9}, {"git_commit": _sha()})

    registry.set_alias(name, "production", v1)
    champion = registry.get_champion(name)
    assert champion is not None
    assert champion.version == v1
    assert champion.aliases == ("production",)
    assert champion.metrics["accuracy"] == pytest.approx(0.8)

    registry.set_alias(name, "production", v2)
    registry.set_alias(name, "staging", v2)
    champion = registry.get_champion(name)
    assert champion is not None and champion.version == v2
    assert champion.aliases == ("production", "staging")
    assert registry.get_version(name, v1).aliases == ()
    # The registry really moved it (read back with the plain client, not the adapter).
    assert mlflow_client.get_model_version_by_alias(name, "production").version == v2


def test_get_version_reads_tags_aliases_and_run_metrics(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    commit = _sha()
    version = models.version(
        name, {"rmse": 1.25, "r2": 0.75}, {"git_commit": commit, "serving_flavor": "onnx"}
    )

    info = registry.get_version(name, version)

    assert info.version == version
    assert info.run_id
    assert info.tags == {"git_commit": commit, "serving_flavor": "onnx"}
    assert info.metrics == {"rmse": pytest.approx(1.25), "r2": pytest.approx(0.75)}
    assert info.aliases == ()


def test_set_tags_are_written_stringified_and_read_back(
    registry: MlflowRegistry, models, mlflow_client: MlflowClient
) -> None:
    name = models.new_name()
    version = models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    registry.set_tags(
        name, version, {"approved_by": "U123", "stage_lambda_version": 7, "deployed_prod_at": 1.5}
    )

    info = registry.get_version(name, version)
    assert info.tags["approved_by"] == "U123"
    assert info.tags["stage_lambda_version"] == "7"
    assert info.tags["deployed_prod_at"] == "1.5"
    assert mlflow_client.get_model_version(name, version).tags["stage_lambda_version"] == "7"


def test_set_tags_too_long_value_is_refused_and_nothing_is_written(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    version = models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    with pytest.raises(InvalidRegistryInputError, match="at most"):
        registry.set_tags(name, version, {"approved_by": "U1", "smoke_input": "x" * (tag_value_limit() + 1)})

    assert "approved_by" not in registry.get_version(name, version).tags


def test_unknown_version_or_model_raises_model_not_found(registry: MlflowRegistry, models) -> None:
    name = models.new_name()
    models.version(name, {"accuracy": 0.5}, {"git_commit": _sha()})

    with pytest.raises(ModelNotFoundError):
        registry.get_version(name, "99")
    with pytest.raises(ModelNotFoundError):
        registry.get_version(models.new_name(), "1")
    with pytest.raises(ModelNotFoundError):
        registry.set_alias(name, "production", "99")
    with pytest.raises(ModelNotFoundError):
        registry.set_tags(name, "99", {"approved_by": "U1"})
    assert registry.get_champion(name) is None
