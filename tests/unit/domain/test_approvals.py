import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_pipeline.domain.approvals import ApprovalRequest, ApprovalService
from mlops_pipeline.domain.delivery import Retry
from mlops_pipeline.domain.identity import IdentityResolver
from mlops_pipeline.domain.models import APPROVE, REJECT, Approval, ApprovalStatus, Decision, MessageRef
from mlops_pipeline.domain.policy import ApprovalPolicy
from tests.fakes import FakeApprovalStore, FakeCallbacks, FakeClock, FakeNotifier

DANA = "arn:aws:iam::111111111111:user/dana"  # the pusher, as the trigger names her
POLICY = ApprovalPolicy(frozenset({"UAPPROVER", "UAUTHOR", "USECOND", "UTHIRD"}))
PUSHED = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def card(approval: Approval) -> tuple[str, list[Mapping[str, Any]]]:
    progress = f"{len(approval.approvers)} of {approval.required_approvals}"
    return (f"card {approval.id} {progress}", [{"type": "actions", "elements": [{"value": approval.id}]}])


def decided(approval: Approval) -> tuple[str, list[Mapping[str, Any]]]:
    return (f"{approval.status} by {approval.decided_by}", [{"type": "section"}])


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def env() -> dict[str, Any]:
    store, callbacks, clock, sleeps = FakeApprovalStore(), FakeCallbacks(), FakeClock(), Sleeps()
    notifier = FakeNotifier({"ds@example.com": "UAUTHOR"})
    identity = IdentityResolver({DANA: "UAUTHOR"})
    service = ApprovalService(
        store, notifier, callbacks, clock, card, decided, identity.resolve, Retry(3, 0.2, sleeps)
    )
    return {
        "store": store,
        "notifier": notifier,
        "callbacks": callbacks,
        "clock": clock,
        "service": service,
        "sleeps": sleeps,
    }


def request(
    env: dict[str, Any],
    execution: str = "arn:exec:1",
    token: str = "token-1",
    model_name: str = "ships",
    model_version: str = "4",
    author: str = DANA,
    pushed_at: datetime | None = PUSHED,
    required: int = 1,
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
            git_author="ds@example.com",
            pushed_at=pushed_at,
            required_approvals=required,
        )
    )


def decide(
    env: dict[str, Any],
    approval: Approval,
    user: str = "UAPPROVER",
    action: str = APPROVE,
    policy: ApprovalPolicy = POLICY,
) -> Any:
    return env["service"].decide(approval_id=approval.id, action=action, user_id=user, policy=policy)


def stored(env: dict[str, Any], approval: Approval) -> Approval:
    return env["store"].get(approval.id)


def card_text(env: dict[str, Any], approval: Approval) -> str:
    return env["notifier"].messages[stored(env, approval).slack_ts]["text"]


# -- requesting -------------------------------------------------------------------------------


def test_request_stores_pending_and_posts_card_in_thread(env: dict[str, Any]) -> None:
    approval = request(env)
    record = stored(env, approval)
    assert (approval.slack_channel, approval.slack_ts) == (record.slack_channel, record.slack_ts)
    assert record.status is ApprovalStatus.PENDING
    assert record.task_token == "token-1"
    message = env["notifier"].messages[record.slack_ts]
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
        author=DANA,
        details={},
        timeout_seconds=60,
        thread=MessageRef("C1", "100.1"),
    )
    assert "secret-task-token" not in repr(made) and "secret-task-token" not in str(made)
    assert "ships" in repr(made)
    # The stored record carries the token too; it must not print either.
    assert "secret-task-token" not in repr(approval) and approval.id in repr(approval)


def test_the_author_is_the_trigger_principal_resolved_by_the_map(env: dict[str, Any]) -> None:
    record = stored(env, request(env))
    assert (record.author, record.author_slack_id, record.git_author) == (DANA, "UAUTHOR", "ds@example.com")
    assert "IDENTITY_MAP" in record.author_via and record.required_approvals == 1


@pytest.mark.parametrize(
    "author",
    [
        "arn:aws:iam::111111111111:user/somebody-else",  # a principal the map does not know
        "ds@example.com",  # the git email, even one the workspace knows
        "",  # no principal at all
        "arn:aws:sts::111111111111:assumed-role/Dev/ds@example.com",  # an "@" in an ARN
    ],
)
def test_an_unresolved_author_needs_two_approvers(env: dict[str, Any], author: str) -> None:
    approval = request(env, author=author)
    record = stored(env, approval)
    assert record.author_slack_id is None and record.required_approvals == 2
    # The old fail-open: nobody is "the author", so one approver would have been enough.
    first = decide(env, approval, user="UAUTHOR")
    assert first.accepted and "1 of 2" in first.message
    assert stored(env, approval).status is ApprovalStatus.PENDING
    assert env["callbacks"].successes == []
    assert decide(env, approval, user="UAPPROVER").approval.status is ApprovalStatus.APPROVED


def test_self_approval_never_lowers_an_unresolved_authors_quorum(env: dict[str, Any]) -> None:
    lenient = ApprovalPolicy(POLICY.allowed_users, allow_self_approval=True)
    approval = request(env, author="arn:aws:iam::111111111111:user/unknown")
    decide(env, approval, user="UAUTHOR", policy=lenient)
    assert stored(env, approval).status is ApprovalStatus.PENDING


def test_required_approvals_setting_raises_the_quorum(env: dict[str, Any]) -> None:
    approval = request(env, required=3)
    assert stored(env, approval).required_approvals == 3
    for user, state in [("UAPPROVER", "PENDING"), ("USECOND", "PENDING"), ("UTHIRD", "APPROVED")]:
        decide(env, approval, user=user)
        assert stored(env, approval).status.value == state


# -- deciding ---------------------------------------------------------------------------------


def test_approve_sends_success_once_records_the_decision_and_updates_card(env: dict[str, Any]) -> None:
    approval = request(env)
    outcome = decide(env, approval)
    assert outcome.accepted and outcome.decided_now
    assert env["callbacks"].successes == [
        (
            "token-1",
            {"approval_id": approval.id, "approved_by": "UAPPROVER", "approved_at": "2026-11-26T12:00:00Z"},
        )
    ]
    record = stored(env, approval)
    assert record.status is ApprovalStatus.APPROVED
    assert [(d.user, d.action, d.at) for d in record.decisions] == [
        ("UAPPROVER", APPROVE, env["clock"].now())
    ]
    assert card_text(env, approval).startswith("APPROVED by UAPPROVER")


def test_reject_sends_model_rejected(env: dict[str, Any]) -> None:
    approval = request(env)
    assert decide(env, approval, action=REJECT).accepted
    assert env["callbacks"].failures[0][:2] == ("token-1", "ModelRejected")


def test_refusals_change_nothing_and_the_author_may_reject(env: dict[str, Any]) -> None:
    approval = request(env)
    for user, expected in [("UOTHER", "not on the list"), ("UAUTHOR", "author may not approve")]:
        outcome = decide(env, approval, user=user)
        assert not outcome.accepted and expected in outcome.message
    assert stored(env, approval).status is ApprovalStatus.PENDING
    assert stored(env, approval).decisions == ()
    assert env["callbacks"].successes == [] and env["callbacks"].failures == []
    assert decide(env, approval, user="UAUTHOR", action=REJECT).accepted


def test_quorum_of_two_counts_each_approver_once_and_updates_the_card_live(env: dict[str, Any]) -> None:
    approval = request(env, required=2)
    assert card_text(env, approval).endswith("0 of 2")

    first = decide(env, approval, user="UAPPROVER")
    assert first.accepted and not first.decided_now and "1 of 2" in first.message
    assert card_text(env, approval).endswith("1 of 2")  # chat.update after the counted approval
    again = decide(env, approval, user="UAPPROVER")
    assert again.accepted and "already counted (1 of 2)" in again.message
    assert len(stored(env, approval).decisions) == 1 and env["callbacks"].successes == []

    env["clock"].advance(60)
    second = decide(env, approval, user="USECOND")
    assert second.decided_now and second.approval.status is ApprovalStatus.APPROVED
    assert env["callbacks"].successes[0][1]["approved_by"] == "UAPPROVER,USECOND"
    record = stored(env, approval)
    assert [(d.user, d.action) for d in record.decisions] == [("UAPPROVER", APPROVE), ("USECOND", APPROVE)]
    assert record.decisions[1].at - record.decisions[0].at == timedelta(seconds=60)


def test_a_reject_after_one_approval_rejects_at_once(env: dict[str, Any]) -> None:
    approval = request(env, required=2)
    decide(env, approval, user="UAPPROVER")
    assert decide(env, approval, user="USECOND", action=REJECT).decided_now
    assert stored(env, approval).status is ApprovalStatus.REJECTED
    assert env["callbacks"].failures[0][1] == "ModelRejected"


def test_author_is_resolved_from_the_trigger_never_from_the_git_email(env: dict[str, Any]) -> None:
    # The commit's git email names UAUTHOR in the workspace, but the push came from DANA's
    # colleague: UAUTHOR is not the author, and the colleague is unresolved (two approvers).
    colleague = request(env, author="arn:aws:iam::111111111111:user/colleague")
    assert stored(env, colleague).author_slack_id is None
    assert "1 of 2" in decide(env, colleague, user="UAUTHOR").message


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
    assert stored(env, approval).status is ApprovalStatus.PENDING


def test_double_click_same_user_is_idempotent_other_decision_refused(env: dict[str, Any]) -> None:
    approval = request(env)
    assert decide(env, approval).accepted
    again = decide(env, approval)
    assert again.accepted and not again.decided_now and "Already approved" in again.message
    other = decide(env, approval, action=REJECT)
    assert not other.accepted and "already approved by <@UAPPROVER>" in other.message
    assert stored(env, approval).status is ApprovalStatus.APPROVED
    assert env["callbacks"].failures == [] and len(env["callbacks"].successes) == 1


def run_concurrently(env: dict[str, Any], approval: Approval, clicks: list[tuple[str, str]]) -> list[Any]:
    outcomes: list[Any] = []
    barrier = threading.Barrier(len(clicks))

    def click(user: str, action: str) -> None:
        barrier.wait()
        outcomes.append(decide(env, approval, user=user, action=action))

    threads = [threading.Thread(target=click, args=c) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_concurrent_clicks_produce_exactly_one_decision(env: dict[str, Any]) -> None:
    approval = request(env)
    outcomes = run_concurrently(env, approval, [("UAPPROVER", APPROVE), ("UAPPROVER", REJECT)] * 5)
    final = stored(env, approval).status
    assert {o.approval.status for o in outcomes if o.decided_now} == {final}
    decisions = len(env["callbacks"].successes) + len(env["callbacks"].failures)
    assert decisions == 1


def test_concurrent_approvals_of_a_quorum_neither_double_count_nor_lose_one(env: dict[str, Any]) -> None:
    approval = request(env, required=3)
    clicks = [("UAPPROVER", APPROVE), ("UAPPROVER", APPROVE), ("USECOND", APPROVE), ("UTHIRD", APPROVE)]
    outcomes = run_concurrently(env, approval, clicks)
    record = stored(env, approval)
    assert sorted(record.approvers) == ["UAPPROVER", "USECOND", "UTHIRD"]  # each once, none lost
    assert record.status is ApprovalStatus.APPROVED
    assert [o.decided_now for o in outcomes].count(True) == 1
    assert len(env["callbacks"].successes) == 1


# -- superseding by commit order --------------------------------------------------------------


def test_a_newer_commit_supersedes_an_older_pending_one(env: dict[str, Any]) -> None:
    old = request(env, execution="arn:exec:1", token="token-1")
    new = request(
        env, execution="arn:exec:2", token="token-2", model_version="5", pushed_at=PUSHED + timedelta(1)
    )
    assert stored(env, old).status is ApprovalStatus.SUPERSEDED
    assert "superseded by ships v5" in stored(env, old).reason
    assert stored(env, new).status is ApprovalStatus.PENDING
    assert env["callbacks"].failures[0][:2] == ("token-1", "ApprovalSuperseded")
    outcome = decide(env, old)
    assert not outcome.accepted and "superseded" in outcome.message


def test_an_older_commit_arriving_later_is_superseded_itself_at_once(env: dict[str, Any]) -> None:
    newer = request(env, execution="arn:exec:2", token="token-2", model_version="5", pushed_at=PUSHED)
    late = request(env, execution="arn:exec:1", token="token-1", pushed_at=PUSHED - timedelta(minutes=5))
    assert stored(env, newer).status is ApprovalStatus.PENDING  # not replaced by an older commit
    record = stored(env, late)
    assert record.status is ApprovalStatus.SUPERSEDED and "pushed later" in record.reason
    assert env["callbacks"].failures == [("token-1", "ApprovalSuperseded", record.reason)]
    assert card_text(env, late).startswith("SUPERSEDED")  # its card says so, without buttons
    assert not decide(env, late).accepted


def test_without_push_times_arrival_order_decides(env: dict[str, Any]) -> None:
    old = request(env, execution="arn:exec:1", token="token-1", pushed_at=None)
    env["clock"].advance(1)
    new = request(env, execution="arn:exec:2", token="token-2", pushed_at=PUSHED)
    assert stored(env, old).status is ApprovalStatus.SUPERSEDED
    assert stored(env, new).status is ApprovalStatus.PENDING


class ListsAfterBothStored(FakeApprovalStore):
    """Two requests race: both reach the listing of pending approvals, then both have listed,
    before either goes on (whatever each stored before its listing is all the other can see)."""

    def __init__(self) -> None:
        super().__init__()
        self.together = threading.Barrier(2, timeout=10)

    def list_pending(self, model_name: str) -> list[Approval]:
        self.together.wait()
        listed = list(super().list_pending(model_name))
        self.together.wait()
        return listed


@pytest.mark.parametrize("newest_first", [False, True])
def test_two_requests_racing_leave_exactly_the_newer_commit_pending(newest_first: bool) -> None:
    store, callbacks = ListsAfterBothStored(), FakeCallbacks()
    service = ApprovalService(
        store, FakeNotifier(), callbacks, FakeClock(), card, decided, retry=Retry(3, 0.2, Sleeps())
    )
    env = {"service": service, "store": store}
    pushes = [
        ("arn:exec:old", "token-old", PUSHED),
        ("arn:exec:new", "token-new", PUSHED + timedelta(seconds=1)),
    ]
    results: dict[str, Approval] = {}

    def run(execution: str, token: str, at: datetime) -> None:
        results[execution] = request(env, execution=execution, token=token, pushed_at=at)

    threads = [threading.Thread(target=run, args=p) for p in (pushes[::-1] if newest_first else pushes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stored(env, results["arn:exec:new"]).status is ApprovalStatus.PENDING
    assert stored(env, results["arn:exec:old"]).status is ApprovalStatus.SUPERSEDED
    assert [f[:2] for f in callbacks.failures] == [("token-old", "ApprovalSuperseded")]


# -- ending -----------------------------------------------------------------------------------


def test_expire_marks_only_this_execution_and_undelivered_decisions(env: dict[str, Any]) -> None:
    mine = request(env, execution="arn:exec:1")
    other_model = request(env, execution="arn:exec:9", model_name="other")
    assert env["service"].expire("arn:exec:1", "ships") == [mine.id]
    assert stored(env, mine).status is ApprovalStatus.EXPIRED
    assert stored(env, other_model).status is ApprovalStatus.PENDING
    # A decision the run never got (the Lambda died between write and callback) expires too.
    click = Decision("UAPPROVER", APPROVE, env["clock"].now())
    env["store"].add_decision(other_model.id, click, 0, ApprovalStatus.APPROVED)
    assert env["service"].expire("arn:exec:9", "other") == [other_model.id]
    assert stored(env, other_model).status is ApprovalStatus.EXPIRED


@pytest.mark.parametrize(
    ("run_status", "ended"), [("ABORTED", "CANCELLED"), ("FAILED", "CANCELLED"), ("TIMED_OUT", "EXPIRED")]
)
def test_a_dead_run_ends_its_pending_approvals(env: dict[str, Any], run_status: str, ended: str) -> None:
    approval = request(env)
    other = request(env, execution="arn:exec:other", model_name="other")
    assert env["service"].end_for_run("arn:exec:1", "ships", run_status) == [approval.id]
    record = stored(env, approval)
    assert record.status.value == ended and run_status in record.reason
    assert card_text(env, approval).startswith(ended)
    assert stored(env, other).status is ApprovalStatus.PENDING
    outcome = decide(env, approval)
    assert not outcome.accepted and run_status in outcome.message
