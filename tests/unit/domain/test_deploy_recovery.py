"""Recovery after a failed deploy: the intent recorded before ``live`` moves, and what the recovery does with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_pipeline.domain.deployment import (
    Candidate,
    DeploymentService,
    lock_name,
    next_intent,
    plan_recovery,
)
from mlops_pipeline.domain.errors import DeploymentError
from mlops_pipeline.domain.models import Artifact, ArtifactKind, DeployIntent
from tests.fakes import FakeClock, FakeDeployedStateStore, FakeDeployer, FakeLockStore

ARTIFACT = Artifact(ArtifactKind.ZIP, "s3://artifacts/serving/ships/ships-5.zip?versionId=v5", "ab" * 32)
CANDIDATE = Candidate("ships", "5", ARTIFACT, "bbbb", 2000)
AT = datetime(2026, 1, 1, tzinfo=UTC)
LOCK = lock_name("stage", "ships")


def intent(previous: str | None = "3", new: str = "4", earlier: tuple[str, ...] = ()) -> DeployIntent:
    return DeployIntent("stage", "exec-1", "stage-fn", previous, new, AT, earlier)


@pytest.mark.parametrize(
    ("recorded", "live", "action"),
    [
        (intent(), "4", "rolled_back"),  # this run's version went live: back to the one before
        (intent(earlier=("5",)), "5", "rolled_back"),  # an earlier attempt's version of this run
        (intent(), "3", "untouched"),  # the deploy died before moving live
        (intent(previous="4", new="4"), "4", "untouched"),  # republished the live version: nothing new
        (intent(), "7", "left"),  # someone else's version: never clobbered
        (intent(), None, "left"),  # no alias at all: nothing of this run serves
    ],
)
def test_the_recovery_moves_back_only_a_version_of_this_run(
    recorded: DeployIntent, live: str | None, action: str
) -> None:
    recovery = plan_recovery(recorded, live)
    assert (recovery.action, recovery.live_version) == (action, live)
    assert "live in stage" in recovery.detail


def test_the_recovery_says_where_live_is_now() -> None:
    assert (
        plan_recovery(intent(), "4").detail
        == "live in stage back to v3 (this run had moved it to v4, untested)"
    )
    assert "serves v7, which this run did not put there" in plan_recovery(intent(), "7").detail


def test_a_first_deployment_cannot_be_moved_back_and_says_what_to_do() -> None:
    with pytest.raises(DeploymentError) as raised:
        plan_recovery(intent(previous=None, new="1"), "1")
    message = str(raised.value)
    assert "may serve v1 of stage-fn, published by this run and never smoke-tested" in message
    assert "first deployment" in message and "delete-alias" in message


def test_a_retry_keeps_the_version_from_before_this_execution() -> None:
    first = next_intent(None, AT, "stage", "exec-1", "fn", ("3", "4"))
    assert (first.previous_version, first.new_version, first.earlier_versions) == ("3", "4", ())
    retry = next_intent(first, AT, "stage", "exec-1", "fn", ("4", "5"))  # found its own v4 behind live
    assert (retry.previous_version, retry.new_version, retry.earlier_versions) == ("3", "5", ("4",))
    assert retry.own_versions == {"4", "5"}
    # Another execution's intent, or a live version that is not this run's, starts afresh.
    assert next_intent(first, AT, "stage", "exec-2", "fn", ("4", "5")).previous_version == "4"
    assert next_intent(first, AT, "stage", "exec-1", "fn", ("7", "8")).previous_version == "7"


class IntentLost(FakeLockStore):
    """A table that refuses the intent's write (throttled, say)."""

    def record_intent(self, name: str, intent: DeployIntent) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")


def service(locks: FakeLockStore | None = None) -> DeploymentService:
    return DeploymentService(
        locks or FakeLockStore(), FakeDeployedStateStore(), FakeClock(), lock_ttl_seconds=60
    )


def test_the_deploy_records_its_intent_before_live_moves() -> None:
    deps = service()
    deployer = FakeDeployer("stage-fn")
    result = deps.deploy("exec-1", "stage", deployer, CANDIDATE)
    assert isinstance(deps.locks, FakeLockStore)
    recorded = deps.locks.intent(LOCK)
    assert recorded is not None
    assert (recorded.execution, recorded.function_name) == ("exec-1", "stage-fn")
    assert (recorded.previous_version, recorded.new_version) == (result.previous_version, result.new_version)

    unrecorded, deployer = service(IntentLost()), FakeDeployer("stage-fn")
    with pytest.raises(RuntimeError):
        unrecorded.deploy("exec-1", "stage", deployer, CANDIDATE)
    assert deployer.alias == "1"  # no intent, no move
    assert isinstance(unrecorded.locks, FakeLockStore) and unrecorded.locks.locks == {}


def test_a_retried_deploy_returns_the_version_from_before_this_execution() -> None:
    deps, deployer = service(), FakeDeployer("stage-fn")
    deps.deploy("exec-1", "stage", deployer, CANDIDATE)  # its answer was lost; the ASL retries
    again = deps.deploy("exec-1", "stage", deployer, CANDIDATE)
    assert (again.previous_version, again.new_version) == ("1", "3")
    assert deps.rollback("exec-1", "stage", "ships", deployer, again.to_dict())["rolled_back_to"] == "1"
    assert deployer.alias == "1"


def test_recover_moves_live_back_and_frees_the_lock() -> None:
    deps, deployer = service(), FakeDeployer("stage-fn")
    deps.deploy("exec-1", "stage", deployer, CANDIDATE)  # live 1 -> 2, then the answer is lost
    recovery = deps.recover("exec-1", "stage", "ships", lambda: deployer)
    assert (recovery.action, deployer.alias) == ("rolled_back", "1")
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}
    # Recovering twice (a retried Lambda) finds live where it should be.
    assert deps.recover("exec-1", "stage", "ships", lambda: deployer).action == "untouched"


def test_recover_without_an_intent_of_this_run_touches_nothing() -> None:
    deps, other = service(), FakeDeployer("stage-fn")
    deps.deploy("exec-0", "stage", other, CANDIDATE)  # an earlier run's intent
    deps.complete("exec-0", "stage", CANDIDATE)
    deps.locks.acquire(LOCK, "exec-1", AT, 60)  # this run died after taking the lock

    def never() -> FakeDeployer:
        raise AssertionError("the target account must not be touched")

    recovery = deps.recover("exec-1", "stage", "ships", never)
    assert recovery.action == "untouched" and recovery.live_version is None
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}
    assert other.alias == "2"


def test_recover_while_another_run_holds_the_lock_says_what_to_do() -> None:
    deps, deployer = service(), FakeDeployer("stage-fn")
    deps.deploy("exec-1", "stage", deployer, CANDIDATE)
    assert deps.locks.release(LOCK, "exec-1")
    deps.locks.acquire(LOCK, "exec-2", deps.clock.now(), 60)
    with pytest.raises(DeploymentError, match=r"move alias live back to v1 by hand .*held by exec-2"):
        deps.recover("exec-1", "stage", "ships", lambda: deployer)
    assert deployer.alias == "2"  # not moved under another run's lock
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks[LOCK].owner == "exec-2"


class AliasStuck(FakeDeployer):
    def rollback(self, to_version: str) -> None:
        raise DeploymentError("alias 'live' of stage-fn was changed by someone else meanwhile; not moved")


def test_a_recovery_that_cannot_move_live_says_what_to_do_and_frees_the_lock() -> None:
    deps, deployer = service(), AliasStuck("stage-fn")
    deps.deploy("exec-1", "stage", deployer, CANDIDATE)
    with pytest.raises(DeploymentError) as raised:
        deps.recover("exec-1", "stage", "ships", lambda: deployer)
    assert "may serve v2 of stage-fn" in str(raised.value)
    assert "update-alias --function-version 1" in str(raised.value)
    assert "changed by someone else" in str(raised.value)
    assert isinstance(deps.locks, FakeLockStore) and deps.locks.locks == {}

    first, fresh = service(), FakeDeployer("stage-fn", current=None)
    first.deploy("exec-1", "stage", fresh, CANDIDATE)
    with pytest.raises(DeploymentError, match="first deployment"):
        first.recover("exec-1", "stage", "ships", lambda: fresh)
    assert fresh.alias == "1"
    assert isinstance(first.locks, FakeLockStore) and first.locks.locks == {}
