"""Prod rollback by hand: the offer, who may claim it, exactly once, and what the rollback moves."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from mlops_pipeline.domain.deployment import lock_name
from mlops_pipeline.domain.models import DeployedState
from mlops_pipeline.domain.policy import ApprovalPolicy
from mlops_pipeline.domain.prod_rollback import (
    ProdRollbackService,
    RollbackRequest,
    RollbackStatus,
    approver_refusal,
    caller_arn,
    make_offer,
    moved_on,
    proof_headers,
    proof_use,
    request_id,
)
from tests.fakes import (
    FakeClock,
    FakeDeployedStateStore,
    FakeDeployer,
    FakeLockStore,
    FakeRegistry,
    FakeRollbackStore,
)

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-7"
EARLIER = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-5"
POLICY = ApprovalPolicy(allowed_users=frozenset({"UAPPROVER"}), allowed_group="SGROUP")
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def no_members(group: str) -> frozenset[str]:
    return frozenset()


class World:
    """Prod runs ships v6 (Lambda v3, run-7) over v5 (Lambda v2, run-5)."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = FakeRollbackStore()
        self.deployed = FakeDeployedStateStore()
        self.locks = FakeLockStore()
        self.registry = FakeRegistry()
        self.deployer = FakeDeployer("prod-ships", current="3")
        self.deployer.versions.update({"2": "v5.zip", "3": "v6.zip"})
        self.registry.add(
            "ships", "5", {}, prod_lambda_version="2", prod_function="prod-ships", git_commit="a" * 40,
            pipeline_execution=EARLIER,
        )  # fmt: skip
        self.registry.add("ships", "6", {}, prod_lambda_version="3", prod_function="prod-ships")
        self.registry.set_alias("ships", "production", "6")
        self.deployed.put(DeployedState("prod", "b" * 40, 2000, "ships", "6", EXECUTION, AT))
        self.service = ProdRollbackService(self.store, self.deployed, self.locks, self.clock)
        offer = make_offer(EXECUTION, "ships", "6", "b" * 40, "5", AT)
        assert offer is not None
        self.offer = self.store.offer(offer)

    def claim(self, user: str = "UAPPROVER", **kw: str) -> tuple[bool, str]:
        claim = self.service.claim(
            self.store.get(self.offer.id), user_id=user, policy=POLICY, members=no_members, via="slack", reason="bad", **kw
        )  # fmt: skip
        return claim.accepted, claim.message

    def execute(self) -> RollbackRequest:
        request = self.store.get(self.offer.id)
        assert request is not None
        self.service.execute(request, lambda: self.deployer, lambda: self.registry)
        done = self.store.get(self.offer.id)
        assert done is not None
        return done


@pytest.fixture
def world() -> World:
    return World()


def test_offer_needs_a_previous_version() -> None:
    assert make_offer(EXECUTION, "ships", "1", "c", None, AT) is None  # a first deployment
    assert make_offer(EXECUTION, "ships", "1", "c", "1", AT) is None
    offer = make_offer(EXECUTION, "ships", "2", "c", "1", AT)
    assert offer is not None and offer.id == "run-7" == request_id(EXECUTION)
    assert offer.status is RollbackStatus.OFFERED


def test_only_approvers_may_roll_back() -> None:
    assert approver_refusal("UAPPROVER", POLICY, no_members) is None
    assert approver_refusal("UINGROUP", POLICY, lambda g: frozenset({"UINGROUP"})) is None
    assert "not on the list" in (approver_refusal("UOTHER", POLICY, no_members) or "")
    assert "No approvers" in (approver_refusal("UAPPROVER", ApprovalPolicy(), no_members) or "")
    assert approver_refusal("", POLICY, no_members) is not None


def test_a_non_approver_is_refused_and_nothing_changes(world: World) -> None:
    accepted, message = world.claim("UOTHER")
    assert not accepted and "approver" in message
    assert world.store.get("run-7") == world.offer


def test_an_approver_claims_once_and_the_second_click_is_refused(world: World) -> None:
    assert world.claim()[0]
    claimed = world.store.get("run-7")
    assert claimed is not None and claimed.status is RollbackStatus.REQUESTED
    assert (claimed.requested_by, claimed.via, claimed.reason) == ("UAPPROVER", "slack", "bad")
    accepted, message = world.claim()
    assert not accepted and "under way" in message and "UAPPROVER" in message


def test_refused_when_a_newer_version_was_promoted_since(world: World) -> None:
    world.deployed.put(DeployedState("prod", "c" * 40, 3000, "ships", "7", "arn:...:run-9", AT))
    accepted, message = world.claim()
    assert not accepted and "moved on" in message and "v7" in message
    assert world.store.get("run-7") == world.offer
    assert moved_on(world.offer, None) is not None


def test_the_rollback_moves_live_state_and_registry(world: World) -> None:
    world.claim()
    done = world.execute()
    assert done.status is RollbackStatus.DONE, done.detail
    assert world.deployer.alias == "2"
    state = world.deployed.get("prod", "ships")
    assert state is not None and (state.version, state.execution, state.commit) == ("5", EARLIER, "a" * 40)
    assert world.registry.get_champion("ships").version == "5"  # type: ignore[union-attr]
    rolled = world.registry.get_version("ships", "6").tags
    assert rolled["rolled_back_by"] == "UAPPROVER" and rolled["rollback_reason"] == "bad"
    assert rolled["rolled_back_at"] == "2026-11-26T12:00:00Z"
    assert world.registry.get_version("ships", "5").tags["restored_by"] == "UAPPROVER"
    assert world.locks.release(lock_name("prod", "ships"), "anyone") is False  # the lock is free
    # Carried out again (a redelivered invocation): nothing moves twice.
    world.deployer.alias = "3"
    assert world.execute().status is RollbackStatus.DONE and world.deployer.alias == "3"


def test_refused_under_the_lock_when_prod_moved_on_after_the_claim(world: World) -> None:
    world.claim()
    world.deployed.put(DeployedState("prod", "c" * 40, 3000, "ships", "7", "arn:...:run-9", AT))
    done = world.execute()
    assert done.status is RollbackStatus.REFUSED and "moved on" in done.detail
    assert world.deployer.alias == "3" and world.registry.get_champion("ships").version == "6"  # type: ignore[union-attr]


def test_refused_while_a_deploy_holds_the_lock(world: World) -> None:
    world.claim()
    world.locks.acquire(lock_name("prod", "ships"), "run-9", AT, 900)
    done = world.execute()
    assert done.status is RollbackStatus.REFUSED and "deploy holds prod" in done.detail
    assert world.deployer.alias == "3"


def test_refused_when_live_serves_another_version(world: World) -> None:
    world.claim()
    world.deployer.versions["4"] = "hotfix.zip"
    world.deployer.alias = "4"
    done = world.execute()
    assert done.status is RollbackStatus.REFUSED and "Lambda v4" in done.detail
    assert world.deployer.alias == "4"


def test_a_registry_failure_after_live_moved_says_what_to_repair(world: World) -> None:
    world.claim()

    def broken(*args: object) -> None:
        raise RuntimeError("MLflow down")

    world.registry.set_alias = broken  # type: ignore[method-assign]
    done = world.execute()
    assert done.status is RollbackStatus.FAILED
    assert world.deployer.alias == "2" and "set alias `production`" in done.detail


def test_to_version_replaces_the_offered_one_and_must_differ(world: World) -> None:
    world.registry.add("ships", "4", {}, prod_lambda_version="1", prod_function="prod-ships")
    accepted, message = world.claim(to_version="6")
    assert not accepted and "already runs" in message
    assert world.claim(to_version="4")[0]
    done = world.execute()
    assert done.status is RollbackStatus.DONE and world.deployer.alias == "1"


def test_a_version_that_never_served_prod_is_refused(world: World) -> None:
    world.registry.add("ships", "3", {})
    world.claim(to_version="3")
    done = world.execute()
    assert done.status is RollbackStatus.REFUSED and "never served prod" in done.detail


def test_an_unreachable_registry_fails_the_rollback_with_nothing_moved(world: World) -> None:
    world.claim()
    request = world.store.get("run-7")
    assert request is not None

    def unreachable() -> FakeRegistry:
        raise RuntimeError("MLFLOW_TRACKING_URI is not set")

    outcome = world.service.execute(request, lambda: world.deployer, unreachable)
    assert outcome.status is RollbackStatus.FAILED and "Nothing moved" in outcome.detail
    assert world.deployer.alias == "3"
    assert world.store.get("run-7").status is RollbackStatus.FAILED  # type: ignore[union-attr]


def proof(
    audience: str = "mlops-rollback-prod",
    signed: str = "content-type;host;x-amz-date;x-mlops-rollback-function",
) -> dict[str, object]:
    return {
        "url": "https://sts.us-east-1.amazonaws.com",
        "body": "Action=GetCallerIdentity&Version=2011-06-15",
        "headers": {
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA/20261126/us-east-1/sts/aws4_request, SignedHeaders={signed}, Signature=ab",
            "X-Amz-Date": "20261126T120000Z",
            "X-Mlops-Rollback-Function": audience,
            "X-Forwarded-For": "dropped",
        },
    }


def test_an_identity_proof_must_sign_this_function_as_its_audience() -> None:
    headers = proof_headers(proof(), "mlops-rollback-prod")
    assert set(headers) == {"authorization", "x-amz-date", "x-mlops-rollback-function"}
    with pytest.raises(ValueError, match="another function"):
        proof_headers(proof("other-fn"), "mlops-rollback-prod")
    with pytest.raises(ValueError, match="does not sign"):
        proof_headers(proof(signed="host;x-amz-date"), "mlops-rollback-prod")
    with pytest.raises(ValueError, match="no identity proof"):
        proof_headers({**proof(), "body": "Action=AssumeRole"}, "mlops-rollback-prod")
    with pytest.raises(ValueError, match="no identity proof"):
        proof_headers(None, "mlops-rollback-prod")


def test_the_caller_is_what_sts_answers() -> None:
    arn = "arn:aws:sts::111111111111:assumed-role/Ops/ops@example.com"
    answer = f"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>{arn}</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>"
    assert caller_arn(answer) == arn
    with pytest.raises(ValueError, match="did not confirm"):
        caller_arn("<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>")


def test_a_proof_is_remembered_by_its_signature_until_sts_would_refuse_it() -> None:
    now = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)
    signature = "0123456789abcdef" * 4
    headers = {
        "authorization": f"AWS4-HMAC-SHA256 Credential=K/x, Signature={signature}",
        "x-amz-date": "20261130T120000Z",
    }
    digest, forget_after = proof_use({"headers": headers}, now)
    assert digest == hashlib.sha256(signature.encode()).hexdigest()
    # Used at 12:05 (after it was signed): kept 20 min from then, past the 15 STS accepts it for.
    assert forget_after == datetime(2026, 11, 30, 12, 25, tzinfo=UTC)
    assert proof_use({"headers": headers}, datetime(2026, 11, 30, 11, 58, tzinfo=UTC))[1] == datetime(
        2026, 11, 30, 12, 20, tzinfo=UTC
    )  # signed "in the future" (clock skew): counted from its date
    # Header names in any case; an unreadable date counts from now.
    shouted = {"Authorization": headers["authorization"], "X-Amz-Date": "yesterday"}
    assert proof_use({"headers": shouted}, now) == (digest, now + timedelta(minutes=20))
    with pytest.raises(ValueError, match="no SigV4 signature"):
        proof_use({"headers": {"authorization": "AWS4-HMAC-SHA256 Signature=short"}}, now)
    with pytest.raises(ValueError, match="no SigV4 signature"):
        proof_use(None, now)
