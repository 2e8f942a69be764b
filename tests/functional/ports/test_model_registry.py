"""ModelRegistry contract: FakeRegistry and MlflowRegistry (a real ``mlflow server``) answer alike."""

from __future__ import annotations

import pytest

from mlops_pipeline.domain.errors import InvalidRegistryInputError, ModelNotFoundError
from mlops_pipeline.domain.models import ModelVersionInfo

from .backends import RegistryBackend

pytestmark = pytest.mark.functional


def seen(info: ModelVersionInfo | None) -> tuple[object, ...] | None:
    """What the port promises of a version (run ids and sources differ per backend)."""
    if info is None:
        return None
    return (info.name, info.version, info.tags, info.metrics, info.aliases)


def test_get_version_with_tags_and_metrics(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    version = registry_backend.add_version(name, {"rmse": 0.25}, {"git_commit": "abc123"})
    info = registry_backend.registry.get_version(name, version)
    assert seen(info) == (name, version, {"git_commit": "abc123"}, {"rmse": 0.25}, ())


def test_get_version_missing_is_not_found(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry = registry_backend.registry
    with pytest.raises(ModelNotFoundError):
        registry.get_version(name, "1")  # no such model
    registry_backend.add_version(name, {}, {})
    with pytest.raises(ModelNotFoundError):
        registry.get_version(name, "2")  # no such version


def test_alias_set_get_and_move(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry = registry_backend.registry
    v1 = registry_backend.add_version(name, {"rmse": 1.0}, {})
    v2 = registry_backend.add_version(name, {"rmse": 0.5}, {})
    assert registry.get_by_alias(name, "staging") is None

    registry.set_alias(name, "staging", v1)
    assert seen(registry.get_by_alias(name, "staging")) == (name, v1, {}, {"rmse": 1.0}, ("staging",))
    registry.set_alias(name, "staging", v2)
    by_alias = registry.get_by_alias(name, "staging")
    assert by_alias is not None and by_alias.version == v2
    assert registry.get_version(name, v1).aliases == ()
    assert registry.get_version(name, v2).aliases == ("staging",)
    assert registry.get_by_alias(registry_backend.new_name(), "staging") is None  # no such model


def test_set_alias_on_a_missing_version_is_not_found(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry_backend.add_version(name, {}, {})
    with pytest.raises(ModelNotFoundError):
        registry_backend.registry.set_alias(name, "staging", "9")
    assert registry_backend.registry.get_by_alias(name, "staging") is None


def test_champion_is_the_production_alias(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry = registry_backend.registry
    version = registry_backend.add_version(name, {}, {})
    assert registry.get_champion(name) is None  # a first model
    registry.set_alias(name, "production", version)
    champion = registry.get_champion(name)
    assert champion is not None and (champion.version, champion.aliases) == (version, ("production",))


def test_find_version_by_commit_is_the_newest(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry = registry_backend.registry
    registry_backend.add_version(name, {}, {"git_commit": "abc123"})
    newest = registry_backend.add_version(name, {}, {"git_commit": "abc123"})
    registry_backend.add_version(name, {}, {"git_commit": "def456"})

    found = registry.find_version_by_commit(name, "abc123")
    assert found is not None and found.version == newest
    upper = registry.find_version_by_commit(name, "ABC123")  # commit ids compare in lower case
    assert upper is not None and upper.version == newest
    assert registry.find_version_by_commit(name, "0123abcd") is None
    assert registry.find_version_by_commit(registry_backend.new_name(), "abc123") is None


def test_set_tags_adds_and_overwrites(registry_backend: RegistryBackend) -> None:
    name = registry_backend.new_name()
    registry = registry_backend.registry
    version = registry_backend.add_version(name, {}, {"git_commit": "abc123", "stage": "built"})
    registry.set_alias(name, "staging", version)

    registry.set_tags(name, version, {"stage": "promoted", "approved_by": "U1"})

    info = registry.get_version(name, version)
    assert info.tags == {"git_commit": "abc123", "stage": "promoted", "approved_by": "U1"}
    assert info.aliases == ("staging",)
    with pytest.raises(ModelNotFoundError):
        registry.set_tags(name, "9", {"stage": "x"})


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("get_version", ("bad name'", "1")),
        ("get_version", ("{name}", "v1")),
        ("get_by_alias", ("{name}", "latest")),
        ("set_alias", ("{name}", "v2", "1")),
        ("find_version_by_commit", ("{name}", "not-hex")),
        ("set_tags", ("{name}", "1", {"bad key!": "x"})),
    ],
)
def test_invalid_input_is_refused_before_the_registry(
    registry_backend: RegistryBackend, call: str, args: tuple[object, ...]
) -> None:
    name = registry_backend.new_name()
    registry_backend.add_version(name, {}, {})
    filled = tuple(name if a == "{name}" else a for a in args)
    with pytest.raises(InvalidRegistryInputError):
        getattr(registry_backend.registry, call)(*filled)
    assert registry_backend.registry.get_version(name, "1").tags == {}
