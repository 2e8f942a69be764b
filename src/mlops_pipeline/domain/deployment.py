"""Deploy, roll back and record what each environment runs, one execution at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mlops_pipeline.domain.errors import DeploymentError, DeploymentLockedError, StaleCommitError
from mlops_pipeline.domain.models import Artifact, DeployedState, DeployIntent, DeployResult
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


def lock_name(environment: str, model: str) -> str:
    """The deployment lock of one model's function in one environment: models deploy side by side."""
    return f"deploy-{environment}-{model}"


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
        """StaleCommitError if ``candidate.model``'s function in ``environment`` runs a newer commit."""
        if environment not in GUARDED_ENVIRONMENTS:
            return
        current = self.deployed.get(environment, candidate.model)
        if current is None or current.commit == candidate.commit:
            return
        if candidate.commit_time and current.commit_time and candidate.commit_time < current.commit_time:
            raise StaleCommitError(
                f"{environment} already runs commit {current.commit[:12]} ({current.model} v{current.version}), "
                f"which is newer than {candidate.commit[:12]}; refusing to deploy an older commit"
            )

    def deploy(
        self,
        execution: str,
        environment: str,
        deployer: FunctionDeployer,
        candidate: Candidate,
        move_alias: bool = True,
    ) -> DeployResult:
        """Take the environment's lock, refuse stale commits, publish and move ``live``.

        The lock stays held until ``complete``, ``rollback`` or ``recover``; a crashed execution
        frees it when its lease expires. The stale check is repeated under the lock: the run
        holding it may complete a newer commit between a check before the lock and the deploy.
        The deploy's intent (previous and new version) is recorded beside the lock before
        ``live`` moves, for ``recover``. ``move_alias=False`` publishes only (a gradual rollout
        then shifts the traffic with ``shift``, under the same lock).
        """
        self.check_not_stale(environment, candidate)  # refuse at once, without waiting for the lock
        name = lock_name(environment, candidate.model)
        self.locks.acquire(name, execution, self.clock.now(), self.lock_ttl_seconds)
        try:
            self.check_not_stale(environment, candidate)
            earlier = self.locks.intent(name)
            intents: list[DeployIntent] = []

            def record(previous: str | None, new: str) -> None:
                # Durable before live moves: a recovery then knows what to undo if the answer is lost.
                at, fn = self.clock.now(), deployer.function_name
                intent = next_intent(earlier, at, environment, execution, fn, (previous, new))
                self.locks.record_intent(name, intent)
                intents.append(intent)

            result = deployer.deploy(candidate.artifact, before_alias_move=record, move_alias=move_alias)
        except BaseException:
            self.locks.release(name, execution)
            raise
        # A retried deploy found its own earlier version behind live: the version to roll back
        # to is the one before this execution, not that untested one.
        return replace(result, previous_version=intents[-1].previous_version) if intents else result

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
        self.locks.release(lock_name(environment, candidate.model), execution)
        return state

    def rollback(
        self,
        execution: str,
        environment: str,
        model: str,
        deployer: FunctionDeployer,
        deploy: Mapping[str, Any],
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
            # Also when live already points at ``previous``: a rollout may route a share of the
            # traffic to ``new`` (weighted alias), which the move back clears.
            deployer.rollback(str(previous))
            return {"rolled_back_to": str(previous), "from_version": new}
        finally:
            self.locks.release(lock_name(environment, model), execution)

    def shift(
        self,
        execution: str,
        environment: str,
        model: str,
        deployer: FunctionDeployer,
        moves: tuple[str | None, str],
        weight: int,
    ) -> None:
        """One step of a gradual rollout: ``weight`` percent of ``live`` to ``moves[1]``, the rest
        to ``moves[0]``, under the deployment lock this execution took at its deploy (the lease
        is renewed: a rollout outlasts one lease; DeploymentLockedError if another run took it)."""
        self.renew(execution, environment, model)
        previous, new = moves
        deployer.shift_traffic(new, weight, previous)

    def renew(self, execution: str, environment: str, model: str) -> None:
        """Renew the lease of the lock ``execution`` holds; DeploymentLockedError if another run has it."""
        self.locks.acquire(lock_name(environment, model), execution, self.clock.now(), self.lock_ttl_seconds)

    def recover(
        self, execution: str, environment: str, model: str, deployer: Callable[[], FunctionDeployer]
    ) -> Recovery:
        """After a failed deploy (its answer may be lost): put ``live`` back if this execution moved it.

        Reads the deploy's intent; only with an intent of this execution is the target touched
        (``deployer`` is called then), under the lock, which is freed in every case.
        DeploymentError, saying what to do by hand, when ``live`` may serve this execution's
        version and cannot be moved back.
        """
        name = lock_name(environment, model)
        intent = self.locks.intent(name)
        if intent is None or intent.execution != execution:
            # The intent is recorded before live moves: without one, this run never moved it.
            self.locks.release(name, execution)
            return Recovery("untouched", None, f"live in {environment} was not moved by this run")
        try:
            try:
                self.locks.acquire(name, execution, self.clock.now(), self.lock_ttl_seconds)
            except DeploymentLockedError as exc:
                raise DeploymentError(f"{by_hand(intent)} Not moved now: {exc}") from exc
            target = deployer()
            recovery = plan_recovery(intent, target.current_version())
            if recovery.action == "rolled_back":
                try:
                    target.rollback(str(intent.previous_version))
                except DeploymentError as exc:
                    raise DeploymentError(f"{by_hand(intent)} Moving it failed: {exc}") from exc
            return recovery
        finally:
            self.locks.release(name, execution)


def next_intent(
    earlier: DeployIntent | None,
    at: datetime,
    environment: str,
    execution: str,
    function_name: str,
    moves: tuple[str | None, str],
) -> DeployIntent:
    """The intent of a deploy about to move ``live`` from ``moves[0]`` to ``moves[1]`` at ``at``.

    A retry of the same execution that finds one of its own versions behind ``live`` keeps the
    version from before that execution as ``previous_version`` (its own one was never tested).
    """
    previous, new = moves
    if earlier is not None and earlier.execution == execution and previous in earlier.own_versions:
        own = tuple(sorted(earlier.own_versions - {new}, key=_version_order))
        return DeployIntent(environment, execution, function_name, earlier.previous_version, new, at, own)
    return DeployIntent(environment, execution, function_name, previous, new, at)


@dataclass(frozen=True)
class Recovery:
    """What the recovery after a failed deploy did to ``live``."""

    action: str  # "rolled_back", "untouched" (this run's version is not behind live) or "left"
    live_version: str | None  # behind live when the recovery looked (None: not looked, or no alias)
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "live_version": self.live_version, "detail": self.detail}


def plan_recovery(intent: DeployIntent, live: str | None) -> Recovery:
    """What to do with ``live`` (the version behind it now) after the deploy of ``intent`` failed.

    Roll back only a version this execution published, and only to the version recorded before
    it; leave any other version (someone else's) alone. DeploymentError when live serves this
    execution's version and there is no earlier version (a first deployment).
    """
    env, previous = intent.environment, intent.previous_version
    if live is not None and live == previous:
        return Recovery("untouched", live, f"live in {env} still serves v{live}; the deploy had not moved it")
    if live is not None and live in intent.own_versions:
        if not previous:
            raise DeploymentError(by_hand(replace(intent, new_version=live)))
        return Recovery(
            "rolled_back",
            live,
            f"live in {env} back to v{previous} (this run had moved it to v{live}, untested)",
        )
    shown = f"v{live}" if live else "no version"
    return Recovery(
        "left",
        live,
        f"live in {env} serves {shown}, which this run did not put there "
        f"(it published v{intent.new_version} over v{previous}); left alone",
    )


def by_hand(intent: DeployIntent) -> str:
    """What to do when the recovery cannot move ``live`` back itself."""
    where = (
        f"live in {intent.environment} may serve v{intent.new_version} of {intent.function_name}, "
        "published by this run and never smoke-tested"
    )
    if not intent.previous_version:
        return (
            f"{where}; it was the first deployment, so there is no earlier version to move live back to: "
            "smoke-test it by hand, deploy a good model, or delete alias live (aws lambda delete-alias)."
        )
    return (
        f"{where}: if it does, move alias live back to v{intent.previous_version} by hand "
        f"(aws lambda update-alias --function-version {intent.previous_version})."
    )


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (0, version)
