import threading
from collections.abc import Mapping
from typing import Any

import pytest

from mlops_pipeline.domain.approvals import ApprovalRequest, ApprovalService
from mlops_pipeline.domain.errors import TaskGoneError
from mlops_pipeline.domain.models import Approval, ApprovalStatus, MessageRef
from mlops_pipeline.domain.policy import ApprovalPolicy
from tests.fakes import FakeApprovalStore, FakeCallbacks, FakeClock, FakeNotifier

POLICY = ApprovalPolicy(frozenset({"UAPPROVER", "UAUTHOR"}))


def card(approval: Approval) -> tuple[str, list[Mapping[str, Any]]]:
    return (f"card {approval.id}", [{"type": "actions", "elements": [{"value": approval.id}]}])


def decided(approval: Approval) -> tuple[str, list[Mapping[str, Any]]]:
    return (f"{approval.status} by {approval.decided_by}", [{"type": "section"}])


@pytest.fixture
def env() -> dict[str, Any]:
    store, callbacks, clock = FakeApprovalStore(), FakeCallbacks(), FakeClock()
    notifier = FakeNotifier({"ds@example.com": "UAUTHOR"})
    service = ApprovalService(store, notifier, callbacks, clock, card, decided)
    return {"store": store, "notifier": notifier, "callbacks": callbacks, "clock": clock, "service": service}


def request(
    env: dict[str, Any],
    execution: str = "arn:exec:1",
    token: str = "token-1",
    model_name: str = "ships",
    model_version: str = "4",
    author: str = "ds@example.com",
) -> Approval:
    return env["service"].request(
        ApprovalRequest(
            task_token=token,
            execution=execution,
            model_name=model_name,
            model_version=model_version,
            commit="c0ffee12345678",
            author=author,
            details={"evaluation": {}},
            timeout_seconds=3600,
            thread=MessageRef("C1", "100.1"),
        )
    )


def decide(
    env: dict[str, Any],
    approval: Approval,
    user: str = "UAPPROVER",
    action: str = "approve",
    policy: ApprovalPolicy = POLICY,
) -> Any:
    return env["service"].decide(approval_id=approval.id, action=action, user_id=user, policy=policy)


def test_request_stores_pending_and_posts_card_in_thread(env: dict[str, Any]) -> None:
    approval = request(env)
    stored = env["store"].get(approval.id)
    assert (approval.slack_channel, approval.slack_ts) == (stored.slack_channel, stored.slack_ts)
    assert stored.status is ApprovalStatus.PENDING
    assert stored.task_token == "token-1"
    message = env["notifier"].messages[stored.slack_ts]
    assert message["thread_ts"] == "100.1"
    # The button carries the approval id, never the task token.
    assert "token-1" not in str(message)
    assert approval.id in str(message["blocks"])


def test_request_never_prints_the_task_token(env: dict[str, Any]) -> None:
    approval = request(env, token="secret-task-token")
    assert approval.task_token == "secret-task-token"
    made = ApprovalRequest(
        task_token="secret-task-token",
        execution="arn:exec:1",
        model_name="ships",
        model_version="4",
        commit="c0ffee",
        author="ds@example.com",
        details={},
        timeout_seconds=60,
        thread=MessageRef("C1", "100.1"),
    )
    assert "secret-task-token" not in repr(made) and "secret-task-token" not in str(made)
    assert "ships" in repr(made)
    # The stored record carries the token too; it must not print either.
    assert "secret-task-token" not in repr(approval) and approval.id in repr(approval)


def test_approve_sends_success_once_and_updates_card(env: dict[str, Any]) -> None:
    approval = request(env)
    outcome = decide(env, approval)
    assert outcome.accepted
    assert env["callbacks"].successes == [
        (
            "token-1",
            {"approval_id": approval.id, "approved_by": "UAPPROVER", "approved_at": "2026-11-26T12:00:00Z"},
        )
    ]
    stored = env["store"].get(approval.id)
    assert stored.status is ApprovalStatus.APPROVED
    assert env["notifier"].messages[stored.slack_ts]["text"].startswith("APPROVED by UAPPROVER")


def test_reject_sends_model_rejected(env: dict[str, Any]) -> None:
    approval = request(env)
    assert decide(env, approval, action="reject").accepted
    assert env["callbacks"].failures[0][:2] == ("token-1", "ModelRejected")


def test_refusals_change_nothing(env: dict[str, Any]) -> None:
    approval = request(env)
    for user, expected in [("UOTHER", "not on the list"), ("UAUTHOR", "author may not approve")]:
        outcome = decide(env, approval, user=user)
        assert not outcome.accepted and expected in outcome.message
    assert env["store"].get(approval.id).status is ApprovalStatus.PENDING
    assert env["callbacks"].successes == [] and env["callbacks"].failures == []


def test_author_is_resolved_by_email_only(env: dict[str, Any]) -> None:
    # The author's Slack id comes from the workspace, looked up by the commit's email.
    by_email = request(env)
    assert "author may not approve" in decide(env, by_email, user="UAUTHOR").message
    # A bare git name is never looked up, even if something by that key exists.
    env["notifier"].users_by_email["ds"] = "UAUTHOR"
    by_name = request(env, execution="arn:exec:2", model_name="other", author="ds")
    assert decide(env, by_name, user="UAUTHOR").accepted


def test_group_members_come_from_the_workspace(env: dict[str, Any]) -> None:
    env["notifier"].groups["S1"] = frozenset({"UGROUP"})
    policy = ApprovalPolicy(allowed_group="S1")
    approval = request(env)
    assert "not on the list" in decide(env, approval, user="UAPPROVER", policy=policy).message
    assert decide(env, approval, user="UGROUP", policy=policy).accepted


def test_expired_request_is_refused(env: dict[str, Any]) -> None:
    approval = request(env)
    env["clock"].advance(3601)
    outcome = decide(env, approval)
    assert not outcome.accepted and "expired" in outcome.message
    assert env["store"].get(approval.id).status is ApprovalStatus.PENDING


def test_double_click_same_user_is_idempotent_other_decision_refused(env: dict[str, Any]) -> None:
    approval = request(env)
    assert decide(env, approval).accepted
    again = decide(env, approval)
    assert again.accepted and "Already approved" in again.message
    other = decide(env, approval, action="reject")
    assert not other.accepted and "already approved by <@UAPPROVER>" in other.message
    assert env["store"].get(approval.id).status is ApprovalStatus.APPROVED
    assert env["callbacks"].failures == []


def test_concurrent_clicks_produce_exactly_one_decision(env: dict[str, Any]) -> None:
    approval = request(env)
    outcomes: list[Any] = []
    users = ["UAPPROVER"] * 5
    actions = ["approve", "reject"] * 5
    threads = [
        threading.Thread(target=lambda u=u, a=a: outcomes.append(decide(env, approval, user=u, action=a)))
        for u, a in zip(users * 2, actions, strict=False)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = env["store"].get(approval.id).status
    winners = {o.approval.status for o in outcomes if o.accepted}
    assert winners == {final}
    decisions = len({t for t, _ in env["callbacks"].successes}) + len(
        {t for t, *_ in env["callbacks"].failures}
    )
    assert decisions == 1


def test_newer_request_supersedes_older_pending(env: dict[str, Any]) -> None:
    old = request(env, execution="arn:exec:1", token="token-1")
    new = request(env, execution="arn:exec:2", token="token-2", model_version="5")
    assert env["store"].get(old.id).status is ApprovalStatus.SUPERSEDED
    assert env["store"].get(new.id).status is ApprovalStatus.PENDING
    assert env["callbacks"].failures[0][:2] == ("token-1", "ApprovalSuperseded")
    outcome = decide(env, old)
    assert not outcome.accepted and "superseded" in outcome.message


def test_task_gone_is_tolerated(env: dict[str, Any]) -> None:
    class GoneCallbacks(FakeCallbacks):
        def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
            raise TaskGoneError("timed out", "TaskTimedOut")

    env["service"].callbacks = GoneCallbacks()
    approval = request(env)
    assert decide(env, approval).accepted


def test_expire_marks_only_this_execution(env: dict[str, Any]) -> None:
    mine = request(env, execution="arn:exec:1")
    other_model = request(env, execution="arn:exec:9", model_name="other")
    assert env["service"].expire("arn:exec:1", "ships") == [mine.id]
    assert env["store"].get(mine.id).status is ApprovalStatus.EXPIRED
    assert env["store"].get(other_model.id).status is ApprovalStatus.PENDING
