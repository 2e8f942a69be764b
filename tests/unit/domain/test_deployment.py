from datetime import datetime

import pytest

from mlops_pipeline.domain.deployment import Candidate, DeploymentService
from mlops_pipeline.domain.errors import DeploymentError, DeploymentLockedError, StaleCommitError
from mlops_pipeline.domain.models import Artifact, ArtifactKind, Lock
from tests.fakes import FakeClock, FakeDeployedStateStore, FakeDeployer, FakeLockStore

ARTIFACT = Artifact(ArtifactKind.ZIP, "s3://artifacts/serving/ships/ships-5.zip?versionId=v5", "ab" * 32)
NEW = Candidate("ships", "5", ARTIFACT, "bbbb", 2000)
OLD = Candidate("ships", "4", ARTIFACT, "aaaa", 1000)


@pytest.fixture
def service() -> DeploymentService:
    return DeploymentService(FakeLockStore(), FakeDeployedStateStore(), FakeClock(), lock_ttl_seconds=60)


def test_deploy_moves_alias_and_holds_lock_until_complete(service: DeploymentService) -> None:
    deployer = FakeDeployer()
    result = service.deploy("exec-1", "stage", deployer, NEW)
    assert (result.previous_version, result.new_version) == ("1", "2")
    with pytest.raises(DeploymentLockedError):
        service.deploy("exec-2", "stage", FakeDeployer(), NEW)
    service.complete("exec-1", "stage", NEW)
    service.deploy("exec-2", "stage", FakeDeployer(), NEW)


def test_failed_deploy_releases_lock(service: DeploymentService) -> None:
    deployer = FakeDeployer()
    deployer.fail_deploy = "image not found"
    with pytest.raises(DeploymentError):
        service.deploy("exec-1", "stage", deployer, NEW)
    assert deployer.alias == "1"
    service.deploy("exec-2", "stage", FakeDeployer(), NEW)


def test_expired_lock_is_taken_over() -> None:
    clock = FakeClock()
    service = DeploymentService(FakeLockStore(), FakeDeployedStateStore(), clock, lock_ttl_seconds=60)
    service.deploy("crashed", "prod", FakeDeployer(), NEW)
    clock.advance(61)
    service.deploy("exec-2", "prod", FakeDeployer(), NEW)


@pytest.mark.parametrize("environment", ["stage", "prod"])
def test_older_commit_refused(service: DeploymentService, environment: str) -> None:
    service.deploy("exec-new", environment, FakeDeployer(), NEW)
    service.complete("exec-new", environment, NEW)
    deployer = FakeDeployer()
    with pytest.raises(StaleCommitError, match="newer than aaaa"):
        service.deploy("exec-old", environment, deployer, OLD)
    assert deployer.alias == "1"
    # Re-deploying the same commit is fine (and the refusal left the lock free).
    service.deploy("exec-again", environment, FakeDeployer(), NEW)


def test_older_commit_refused_when_a_newer_one_completes_just_before_it_takes_the_lock() -> None:
    class RacingLocks(FakeLockStore):
        """The newer run completes (and frees the lock) right after the older one's first check."""

        def acquire(self, name: str, owner: str, now: datetime, ttl_seconds: int) -> Lock:
            if owner == "exec-old" and name in self.locks:
                service.complete("exec-new", "stage", NEW)
            return super().acquire(name, owner, now, ttl_seconds)

    service = DeploymentService(RacingLocks(), FakeDeployedStateStore(), FakeClock(), lock_ttl_seconds=60)
    service.deploy("exec-new", "stage", FakeDeployer(), NEW)
    deployer = FakeDeployer()
    with pytest.raises(StaleCommitError):
        service.deploy("exec-old", "stage", deployer, OLD)
    assert deployer.alias == "1"
    assert "deploy-stage-ships" not in service.locks.locks  # the refusal freed the lock it had taken


def test_each_model_deploys_under_its_own_lock_and_its_own_commit_order(service: DeploymentService) -> None:
    """Two models' runs never wait on, nor count as newer than, each other."""
    churn_old = Candidate("churn", "1", ARTIFACT, "cccc", 500)  # older commit than ships' NEW
    service.deploy("exec-ships", "prod", FakeDeployer(), NEW)  # ships' lock held
    service.deploy("exec-churn", "prod", FakeDeployer(), churn_old)  # not blocked by it
    service.complete("exec-ships", "prod", NEW)
    service.complete("exec-churn", "prod", churn_old)
    assert service.deployed.get("prod", "ships") is not None
    assert service.deployed.get("prod", "churn") is not None
    assert service.deployed.get("prod", "churn").commit == "cccc"  # type: ignore[union-attr]
    # ... while an older commit of the same model is still refused.
    with pytest.raises(StaleCommitError):
        service.deploy("exec-ships-old", "prod", FakeDeployer(), OLD)


def test_rollback_moves_back_and_releases(service: DeploymentService) -> None:
    deployer = FakeDeployer()
    result = service.deploy("exec-1", "stage", deployer, NEW)
    out = service.rollback("exec-1", "stage", "ships", deployer, result.to_dict())
    assert out == {"rolled_back_to": "1", "from_version": "2"}
    assert deployer.alias == "1"
    service.deploy("exec-2", "stage", FakeDeployer(), NEW)


def test_rollback_without_previous_version_fails_clearly(service: DeploymentService) -> None:
    deployer = FakeDeployer(current=None)
    result = service.deploy("exec-1", "stage", deployer, NEW)
    with pytest.raises(DeploymentError, match="no previous version"):
        service.rollback("exec-1", "stage", "ships", deployer, result.to_dict())


def test_rollback_does_not_clobber_a_foreign_version(service: DeploymentService) -> None:
    deployer = FakeDeployer()
    result = service.deploy("exec-1", "stage", deployer, NEW)
    deployer.versions["3"] = "other"
    deployer.alias = "3"
    with pytest.raises(DeploymentError, match="neither"):
        service.rollback("exec-1", "stage", "ships", deployer, result.to_dict())
    assert deployer.alias == "3"
