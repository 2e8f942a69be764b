"""Roll back prod by hand: the button on the final message, the click, the rollback function, the CLI's request."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest

from mlops_pipeline.domain.models import Approval, ApprovalStatus, DeployedState, RunRecord
from mlops_pipeline.domain.prod_rollback import RollbackStatus
from mlops_pipeline.handlers import notify, report, rollback
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import (
    FakeApprovalStore,
    FakeClock,
    FakeDeployedStateStore,
    FakeDeployer,
    FakeLockStore,
    FakeNotifier,
    FakeRegistry,
    FakeRollbackStarter,
    FakeRollbackStore,
    FakeRunStore,
)
from tests.unit.chat_outage import ChatOutage
from tests.unit.handlers.test_handlers import SECRET, _click, _sns

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-7"
EARLIER = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-5"
OPS = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_abc/ops@example.com"
ENV = {
    "MLOPS_TABLE": "t",
    "SLACK_CHANNEL": "CPIPE",
    "APPROVERS": "UAPPROVER",
    "IDENTITY_MAP": json.dumps({OPS: "UAPPROVER", "arn:aws:iam::111111111111:user/intern": "UINTERN"}),
    "PROD_ROLLBACK_FUNCTION": "mlops-rollback-prod",
    "DEPLOY_TARGETS": json.dumps(
        {"prod": {"role_arn": "arn:aws:iam::1:role/p", "functions": {"ships": "prod-ships"}}}
    ),
}


@pytest.fixture
def deps() -> Deps:
    clock = FakeClock()
    prod = FakeDeployer("prod-ships", current="3")
    prod.versions.update({"2": "v5.zip", "3": "v6.zip"})
    registry = FakeRegistry()
    registry.add(
        "ships", "5", {}, prod_lambda_version="2", prod_function="prod-ships", pipeline_execution=EARLIER
    )
    registry.add("ships", "6", {}, prod_lambda_version="3", prod_function="prod-ships")
    registry.set_alias("ships", "production", "6")
    deployed = FakeDeployedStateStore()
    deployed.put(DeployedState("prod", "b" * 40, 2000, "ships", "6", EXECUTION, clock.now()))
    runs = FakeRunStore()
    runs.create_if_absent(
        RunRecord(execution=EXECUTION, commit="b" * 40, started_at=clock.now(), slack_channel="CPIPE")
    )
    runs.update(EXECUTION, model="ships", version="6")
    approvals = FakeApprovalStore()
    approvals.put(
        Approval(
            id="approval-of-run-7",
            task_token="t",
            execution=EXECUTION,
            model="ships",
            version="6",
            commit="b" * 40,
            author="someone",
            requested_at=clock.now(),
            expires_at=clock.now() + timedelta(hours=1),
            status=ApprovalStatus.APPROVED,
            details={"evaluation": {"champion_version": "5"}},
        )
    )
    d = Deps(
        env=ENV,
        clock=clock,
        approvals_store=approvals,
        runs=runs,
        locks=FakeLockStore(),
        deployed=deployed,
        notifier=FakeNotifier(),
        registry=registry,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        deployer_factory=lambda environment, execution, model: prod,
    )
    d.rollbacks = FakeRollbackStore()
    d.rollback_starter = FakeRollbackStarter()
    return d


def store(deps: Deps) -> FakeRollbackStore:
    assert isinstance(deps.rollbacks, FakeRollbackStore)
    return deps.rollbacks


def starter(deps: Deps) -> FakeRollbackStarter:
    assert isinstance(deps.rollback_starter, FakeRollbackStarter)
    return deps.rollback_starter


def prod(deps: Deps) -> FakeDeployer:
    deployer = deps.deployer("prod", EXECUTION, "ships")
    assert isinstance(deployer, FakeDeployer)
    return deployer


def succeed(deps: Deps) -> dict[str, Any]:
    """ReportSucceeded; returns the final message."""
    report.handle({"execution": EXECUTION, "input": {}, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    assert isinstance(deps.notifier, FakeNotifier)
    return list(deps.notifier.messages.values())[-1]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def ephemerals(deps: Deps) -> list[str]:
    assert isinstance(deps.notifier, FakeNotifier)
    return [e["text"] for e in deps.notifier.ephemerals]


def test_the_final_success_message_carries_the_button_and_an_offer(deps: Deps) -> None:
    message = succeed(deps)
    [button] = buttons(message)
    assert (button["action_id"], button["value"]) == ("rollback_prod", "run-7")
    assert "confirm" in button
    offer = store(deps).get("run-7")
    assert offer is not None and (offer.version, offer.to_version, offer.status) == (
        "6",
        "5",
        RollbackStatus.OFFERED,
    )


@pytest.mark.parametrize("clicked_meanwhile", [False, True])
def test_a_final_message_posted_late_still_carries_the_open_offers_button(
    deps: Deps, clicked_meanwhile: bool
) -> None:
    # Slack is down when ReportSucceeded posts: the offer is stored all the same, and the final
    # message notify posts once Slack is back carries the button while the offer is open.
    chat = ChatOutage()
    deps.notifier = chat
    report.handle({"execution": EXECUTION, "input": {}, "step": "Pipeline", "status": "STARTED"}, deps)
    chat.down = True
    report.handle({"execution": EXECUTION, "input": {}, "step": "Pipeline", "status": "SUCCEEDED"}, deps)
    offer = store(deps).get("run-7")
    assert offer is not None and offer.status is RollbackStatus.OFFERED
    if clicked_meanwhile:  # e.g. from the terminal: the offer is taken, a button would only refuse
        store(deps).claim("run-7", by="UAPPROVER", principal=OPS, via="cli", reason="r", at=deps.clock.now())
    chat.down = False
    notify.handle(_sns({"executionArn": EXECUTION, "status": "SUCCEEDED", "input": "{}"}), deps)
    final = list(chat.messages.values())[-1]
    assert "Pipeline succeeded" in final["text"], final["text"]
    expected = [] if clicked_meanwhile else [("rollback_prod", "run-7")]
    assert [(b["action_id"], b["value"]) for b in buttons(final)] == expected


def test_no_button_for_a_first_deployment_or_a_run_prod_moved_on_from(deps: Deps) -> None:
    assert isinstance(deps.approvals_store, FakeApprovalStore)
    approval = deps.approvals_store.get("approval-of-run-7")
    assert approval is not None
    approval.details["evaluation"] = {"champion_version": None}
    assert buttons(succeed(deps)) == []
    assert store(deps).get("run-7") is None


def test_a_non_approver_click_is_refused_ephemerally_and_nothing_moves(deps: Deps) -> None:
    succeed(deps)
    response = _click(deps, "run-7", "UINTERN", action="rollback_prod")
    assert response["statusCode"] == 200
    assert "approver" in ephemerals(deps)[-1]
    assert store(deps).get("run-7").status is RollbackStatus.OFFERED  # type: ignore[union-attr]
    assert starter(deps).payloads == [] and prod(deps).alias == "3"


def test_an_approver_click_claims_and_starts_the_rollback_once(deps: Deps) -> None:
    succeed(deps)
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")
    assert "Rolling prod back" in ephemerals(deps)[-1]
    assert starter(deps).payloads == [{"mode": "manual", "environment": "prod", "request_id": "run-7"}]
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")  # the double click
    assert "Refused" in ephemerals(deps)[-1] and "under way" in ephemerals(deps)[-1]
    assert len(starter(deps).payloads) == 1


def test_a_click_after_a_newer_promotion_is_refused(deps: Deps) -> None:
    succeed(deps)
    deps.deployed.put(DeployedState("prod", "c" * 40, 3000, "ships", "7", "arn:x:run-9", deps.clock.now()))
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")
    assert "moved on" in ephemerals(deps)[-1] and starter(deps).payloads == []


def test_a_rollback_that_cannot_start_gives_the_offer_back(deps: Deps) -> None:
    succeed(deps)
    starter(deps).fail = RuntimeError("throttled")
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")
    assert "could not be started" in ephemerals(deps)[-1]
    assert store(deps).get("run-7").status is RollbackStatus.OFFERED  # type: ignore[union-attr]


def test_the_rollback_function_moves_prod_and_reports_in_the_thread(deps: Deps) -> None:
    succeed(deps)
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")
    out = rollback.handle(starter(deps).payloads[0], deps)
    assert out["status"] == "DONE" and out["accepted"]
    assert prod(deps).alias == "2"
    assert deps.registry.get_champion("ships").version == "5"  # type: ignore[union-attr]
    assert deps.deployed.get("prod", "ships").version == "5"  # type: ignore[union-attr]
    run = deps.runs.get(EXECUTION)
    assert run is not None and run.status != "FAILED"
    last = run.steps[-1]
    assert (last.step, last.status) == ("RollbackProdByHand", "SUCCEEDED")
    assert "<@UAPPROVER>" in last.detail and "v5" in last.detail
    # Lambda retries an asynchronous invocation: a second run of it moves nothing.
    prod(deps).alias = "3"
    assert rollback.handle(starter(deps).payloads[0], deps)["status"] == "DONE" and prod(deps).alias == "3"


@pytest.fixture(autouse=True)
def sts(monkeypatch: pytest.MonkeyPatch) -> None:
    """STS's answer to an identity proof: here the proof's ``caller`` (the real exchange: ASL tier)."""

    def answer(proof: object) -> str:
        if not isinstance(proof, dict) or "caller" not in proof:
            raise ValueError("the request carries no identity proof")
        return str(proof["caller"])

    monkeypatch.setattr(rollback, "verified_caller", answer)


def signed(principal: str) -> dict[str, Any]:
    """A proof naming ``principal`` with a signature of its own (each call: a new signature)."""
    signature = secrets.token_hex(32)
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIA/20261130/us-east-1/sts/aws4_request, Signature={signature}"
    )
    return {
        "caller": principal,
        "headers": {"Authorization": authorization, "X-Amz-Date": "20261130T120000Z"},
    }


def cli(
    deps: Deps, principal: str | None, proof: dict[str, Any] | None = None, **extra: str
) -> dict[str, Any]:
    proof = proof or (signed(principal) if principal else None)
    event = {"mode": "manual", "environment": "prod", "model": "ships", "identity_proof": proof, **extra}
    return rollback.handle(event, deps)


def test_the_terminal_rolls_back_as_a_mapped_approver(deps: Deps) -> None:
    succeed(deps)
    out = cli(deps, OPS, reason="p99 doubled")
    assert out["status"] == "DONE" and prod(deps).alias == "2"
    request = store(deps).get("run-7")
    assert request is not None and (request.via, request.principal, request.requested_by) == (
        "cli",
        OPS,
        "UAPPROVER",
    )
    assert deps.registry.get_version("ships", "6").tags["rollback_reason"] == "p99 doubled"
    second = cli(deps, OPS)  # the run prod runs now is run-5: it left no offer here
    assert not second["accepted"] and "--to" in second["message"]


def test_an_identity_proof_makes_one_request_only(deps: Deps) -> None:
    # A proof captured on its way is worth nothing more: the same signature is refused the second
    # time, before anything is claimed; the operator's next command signs a new one.
    proof = signed(OPS)
    assert not cli(deps, OPS, proof)[
        "accepted"
    ]  # no offer yet (--to missing): the proof is used all the same
    succeed(deps)
    replayed = cli(deps, OPS, proof, reason="replayed")
    assert not replayed["accepted"] and "used before" in replayed["message"]
    assert store(deps).get("run-7").status is RollbackStatus.OFFERED  # type: ignore[union-attr]
    assert prod(deps).alias == "3"
    assert cli(deps, OPS)["status"] == "DONE" and prod(deps).alias == "2"


def test_a_proof_without_a_signature_is_refused(deps: Deps) -> None:
    succeed(deps)
    out = cli(deps, OPS, {"caller": OPS, "headers": {}})
    assert not out["accepted"] and "no SigV4 signature" in out["message"]
    assert prod(deps).alias == "3"


def test_the_terminal_obeys_the_same_rules(deps: Deps) -> None:
    succeed(deps)
    assert "maps to no approver" in cli(deps, "arn:aws:iam::111111111111:user/nobody")["message"]
    assert "approver" in cli(deps, "arn:aws:iam::111111111111:user/intern")["message"]
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")  # Slack claimed it first
    out = cli(deps, OPS)
    assert not out["accepted"] and "under way" in out["message"]
    assert prod(deps).alias == "3"


def test_the_terminal_names_a_version_when_the_run_left_no_offer(deps: Deps) -> None:
    assert not cli(deps, OPS)["accepted"]
    out = cli(deps, OPS, to_version="5")
    assert out["status"] == "DONE" and prod(deps).alias == "2"
    request = store(deps).get("run-7")
    assert request is not None and (request.version, request.to_version) == ("6", "5")


def test_the_terminal_without_an_identity_proof_is_refused(deps: Deps) -> None:
    succeed(deps)
    out = cli(deps, None)
    assert not out["accepted"] and "could not be verified" in out["message"]
    assert prod(deps).alias == "3"


def test_a_click_without_the_setting_is_refused_before_anything_is_claimed(deps: Deps) -> None:
    succeed(deps)
    deps.env = {**ENV, "PROD_ROLLBACK_FUNCTION": ""}
    _click(deps, "run-7", "UAPPROVER", action="rollback_prod")
    assert "not configured" in ephemerals(deps)[-1]
    assert store(deps).get("run-7").status is RollbackStatus.OFFERED  # type: ignore[union-attr]
    assert starter(deps).payloads == []
