"""DeployedStateStore contract: the fake and DynamoDeployedStateStore (moto) answer alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops_pipeline.ports import DeployedStateStore

from .samples import T0, deployed

pytestmark = pytest.mark.functional


def test_nothing_deployed_yet(deployed_store: DeployedStateStore) -> None:
    assert deployed_store.get("stage", "iris") is None


def test_round_trip_per_environment(deployed_store: DeployedStateStore) -> None:
    stage, prod = deployed("stage", "3"), deployed("prod", "2")
    deployed_store.put(stage)
    deployed_store.put(prod)
    assert deployed_store.get("stage", "iris") == stage
    assert deployed_store.get("prod", "iris") == prod


def test_each_model_has_its_own_state(deployed_store: DeployedStateStore) -> None:
    iris = deployed("stage", "3")
    churn = replace(deployed("stage", "1"), model="churn")
    deployed_store.put(iris)
    deployed_store.put(churn)
    assert deployed_store.get("stage", "iris") == iris
    assert deployed_store.get("stage", "churn") == churn
    assert deployed_store.get("prod", "churn") is None


def test_last_write_wins_even_an_older_commit(deployed_store: DeployedStateStore) -> None:
    deployed_store.put(deployed("stage", "4", commit_time=1_764_000_100))
    older = deployed("stage", "3", commit_time=1_764_000_000)
    deployed_store.put(older)  # the stale-commit rule is the domain's, not the store's
    assert deployed_store.get("stage", "iris") == older


def test_naive_datetime_is_refused(deployed_store: DeployedStateStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        deployed_store.put(replace(deployed(), deployed_at=T0.replace(tzinfo=None)))
    assert deployed_store.get("stage", "iris") is None
