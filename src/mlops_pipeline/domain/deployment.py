"""Deploy, roll back and record what each environment runs, one execution at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.domain.errors import DeploymentError, StaleCommitError
from mlops_pipeline.domain.models import Artifact, DeployedState, DeployResult
from mlops_pipeline.ports import Clock, DeployedStateStore, FunctionDeployer, LockStore

# Environments where an older commit must not replace a newer one: runs of commits pushed close
# together reach a deploy in any order (their builds take different times).
GUARDED_ENVIRONMENTS = frozenset({"stage", "prod"})


@dataclass(frozen=True)
class Candidate:
    model: str
    version: str
    artifact: Artifact
    commit: str
    commit_time: int

    @classmethod
    def from_evaluation(cls, model: Mapping[str, Any]) -> Candidate:
        return cls(
            model=str(model["model_name"]),
            version=str(model["model_version"]),
            artifact=Artifact.from_dict(model.get("artifact")),
            commit=str(model.get("commit", "")),
            commit_time=int(model.get("commit_time") or 0),
        )


def lock_name(environment: str) -> str:
    return f"deploy-{environment}"


class DeploymentService:
    """The deploy/rollback rules around a FunctionDeployer."""

    def __init__(
        self,
        locks: LockStore,
        deployed: DeployedStateStore,
        clock: Clock,
        lock_ttl_seconds: int = 900,
    ) -> None:
        self.locks = locks
        self.deployed = deployed
        self.clock = clock
        self.lock_ttl_seconds = lock_ttl_seconds

    def check_not_stale(self, environment: str, candidate: Candidate) -> None:
        """StaleCommitError if ``environment`` already runs a newer commit."""
        if environment not in GUARDED_ENVIRONMENTS:
            return
        current = self.deployed.get(environment)
        if current is None or current.commit == candidate.commit:
            return
        if candidate.commit_time and current.commit_time and candidate.commit_time < current.commit_time:
            raise StaleCommitError(
                f"{environment} already runs commit {current.commit[:12]} ({current.model} v{current.version}), "
                f"which is newer than {candidate.commit[:12]}; refusing to deploy an older commit"
            )

    def deploy(
        self, execution: str, environment: str, deployer: FunctionDeployer, candidate: Candidate
    ) -> DeployResult:
        """Take the environment's lock, refuse stale commits, publish and move ``live``.

        The lock stays held until ``complete`` or ``rollback``; a crashed execution frees it
        when its lease expires. The stale check is repeated under the lock: the run holding it
        may complete a newer commit between a check before the lock and the deploy.
        """
        self.check_not_stale(environment, candidate)  # refuse at once, without waiting for the lock
        self.locks.acquire(lock_name(environment), execution, self.clock.now(), self.lock_ttl_seconds)
        try:
            self.check_not_stale(environment, candidate)
            return deployer.deploy(candidate.artifact)
        except BaseException:
            self.locks.release(lock_name(environment), execution)
            raise

    def complete(self, execution: str, environment: str, candidate: Candidate) -> DeployedState:
        """Remember what the environment runs now and free its lock."""
        state = DeployedState(
            environment=environment,
            commit=candidate.commit,
            commit_time=candidate.commit_time,
            model=candidate.model,
            version=candidate.version,
            execution=execution,
            deployed_at=self.clock.now(),
        )
        self.deployed.put(state)
        self.locks.release(lock_name(environment), execution)
        return state

    def rollback(
        self, execution: str, environment: str, deployer: FunctionDeployer, deploy: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Move ``live`` back to the version it had before this execution's deploy."""
        previous = deploy.get("previous_version")
        new = deploy.get("new_version")
        try:
            if not previous:
                raise DeploymentError(
                    f"{environment}: no previous version to roll back to (v{new} was the first deployment)"
                )
            current = deployer.current_version()
            if current not in (new, previous):
                # Someone else moved live meanwhile; do not clobber their version.
                raise DeploymentError(
                    f"{environment}: live points at v{current}, neither v{new} nor v{previous}; not rolling back"
                )
            if current != previous:
                deployer.rollback(str(previous))
            return {"rolled_back_to": str(previous), "from_version": new}
        finally:
            self.locks.release(lock_name(environment), execution)
