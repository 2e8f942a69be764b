"""LockStore contract: the fake and DynamoLockStore (moto) answer alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlops_pipeline.domain.errors import DeploymentLockedError
from mlops_pipeline.domain.models import DeployIntent, Lock
from mlops_pipeline.ports import LockStore

from .samples import T0

pytestmark = pytest.mark.functional


def test_acquire_returns_the_lease_and_is_reentrant_for_its_owner(lock_store: LockStore) -> None:
    assert lock_store.acquire("deploy-stage", "exec-A", T0, 900) == Lock(
        "deploy-stage", "exec-A", T0, T0 + timedelta(seconds=900)
    )
    renewed = lock_store.acquire("deploy-stage", "exec-A", T0 + timedelta(seconds=60), 900)
    assert renewed.expires_at == T0 + timedelta(seconds=960)
    # Other names are independent.
    assert lock_store.acquire("deploy-prod", "exec-B", T0, 900).owner == "exec-B"


def test_held_by_another_owner_is_locked(lock_store: LockStore) -> None:
    lock_store.acquire("deploy-stage", "exec-A", T0, 900)
    with pytest.raises(DeploymentLockedError, match="exec-A"):
        lock_store.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=899), 900)


def test_expired_lease_can_be_taken_over(lock_store: LockStore) -> None:
    lock_store.acquire("deploy-prod", "crashed", T0, 60)
    taken = lock_store.acquire("deploy-prod", "exec-B", T0 + timedelta(seconds=60), 60)
    assert (taken.owner, taken.expires_at) == ("exec-B", T0 + timedelta(seconds=120))
    assert lock_store.release("deploy-prod", "crashed") is False
    with pytest.raises(DeploymentLockedError, match="exec-B"):
        lock_store.acquire("deploy-prod", "crashed", T0 + timedelta(seconds=61), 60)


def test_release_only_by_the_owner(lock_store: LockStore) -> None:
    lock_store.acquire("deploy-stage", "exec-A", T0, 900)
    assert lock_store.release("deploy-stage", "exec-B") is False
    with pytest.raises(DeploymentLockedError):
        lock_store.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=1), 900)
    assert lock_store.release("deploy-stage", "exec-A") is True
    assert lock_store.release("deploy-stage", "exec-A") is False
    assert lock_store.release("never-taken", "exec-A") is False
    assert lock_store.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=2), 900).owner == "exec-B"


def test_an_expired_lease_may_still_be_released_by_its_owner(lock_store: LockStore) -> None:
    lock_store.acquire("deploy-stage", "exec-A", T0, 60)
    assert lock_store.release("deploy-stage", "exec-A") is True


def test_arguments_are_checked(lock_store: LockStore) -> None:
    with pytest.raises(ValueError, match="positive"):
        lock_store.acquire("x", "me", T0, 0)
    with pytest.raises(ValueError, match="owner"):
        lock_store.acquire("x", "", T0, 10)
    with pytest.raises(ValueError, match="timezone"):
        lock_store.acquire("x", "me", T0.replace(tzinfo=None), 10)
    assert lock_store.release("x", "me") is False  # none of them took the lock


def test_a_deploy_intent_sits_beside_its_lock_and_outlives_the_lease(lock_store: LockStore) -> None:
    assert lock_store.intent("deploy-stage") is None
    intent = DeployIntent("stage", "exec-A", "mlops-inference", "3", "4", T0, ("5",))
    lock_store.acquire("deploy-stage", "exec-A", T0, 900)
    lock_store.record_intent("deploy-stage", intent)
    assert lock_store.intent("deploy-stage") == intent
    assert lock_store.intent("deploy-prod") is None  # one per lock
    # Renewing, releasing and taking over the lock leave it; the next deploy's intent replaces it.
    lock_store.acquire("deploy-stage", "exec-A", T0 + timedelta(seconds=1), 900)
    assert lock_store.release("deploy-stage", "exec-A") is True
    assert lock_store.intent("deploy-stage") == intent
    first = DeployIntent("stage", "exec-B", "mlops-inference", None, "1", T0 + timedelta(seconds=2))
    lock_store.record_intent("deploy-stage", first)
    assert lock_store.intent("deploy-stage") == first
    # The intent is no lock: the lock is free, then held as before.
    assert lock_store.acquire("deploy-stage", "exec-B", T0 + timedelta(seconds=3), 900).owner == "exec-B"
    with pytest.raises(DeploymentLockedError):
        lock_store.acquire("deploy-stage", "exec-C", T0 + timedelta(seconds=4), 900)
    assert lock_store.intent("deploy-stage") == first
