"""After the conditional write: the callback and the card, with fakes that fail N times.

The record must always agree with the run: a decision the run can no longer receive is
CANCELLED, one that kept failing is reverted to PENDING (click again), and a card that cannot
be updated never changes the decision.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mlops_pipeline.domain.approvals import ApprovalService
from mlops_pipeline.domain.delivery import Retry
from mlops_pipeline.domain.errors import ApprovalRequestFailed, ChatError, TaskGoneError
from mlops_pipeline.domain.identity import IdentityResolver
from mlops_pipeline.domain.models import APPROVE, REJECT, Approval, ApprovalStatus, MessageRef
from tests.fakes import FakeApprovalStore, FakeCallbacks, FakeClock, FakeNotifier
from tests.unit.domain.test_approvals import DANA, Sleeps, card, decide, decided, request, stored


class ThrottledError(Exception):
    """What a throttled or unreachable Step Functions looks like to the service (not the port's)."""


class FlakyCallbacks(FakeCallbacks):
    """Fails the first ``failures`` answers with ``error``; then behaves."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.error = error or ThrottledError("Rate exceeded")
        self.attempts = 0

    def _maybe_fail(self) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        self._maybe_fail()
        super().send_success(task_token, output)

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self._maybe_fail()
        super().send_failure(task_token, error, cause)


class FlakyNotifier(FakeNotifier):
    """chat.update / chat.postMessage fail the first N times."""

    def __init__(self, update_failures: int = 0, post_failures: int = 0) -> None:
        super().__init__()
        self.update_failures = update_failures
        self.post_failures = post_failures

    def update(self, ref: MessageRef, text: str, blocks: Sequence[Mapping[str, Any]] | None = None) -> None:
        if self.update_failures > 0:
            self.update_failures -= 1
            raise ChatError("chat.update failed: ratelimited", "ratelimited")
        super().update(ref, text, blocks)

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        if self.post_failures > 0:
            self.post_failures -= 1
            raise ChatError("chat.postMessage failed: fatal_error", "fatal_error")
        return super().post(channel, text, blocks, thread_ts)


def make_env(callbacks: FakeCallbacks | None = None, notifier: FakeNotifier | None = None) -> dict[str, Any]:
    store, clock, sleeps = FakeApprovalStore(), FakeClock(), Sleeps()
    callbacks = callbacks or FakeCallbacks()
    notifier = notifier or FakeNotifier()
    service = ApprovalService(
        store,
        notifier,
        callbacks,
        clock,
        card,
        decided,
        IdentityResolver({DANA: "UAUTHOR"}).resolve,
        Retry(3, 0.2, sleeps),
    )
    return {
        "store": store,
        "notifier": notifier,
        "callbacks": callbacks,
        "clock": clock,
        "service": service,
        "sleeps": sleeps,
    }


def card_of(env: dict[str, Any], approval: Approval) -> dict[str, Any]:
    return env["notifier"].messages[approval.slack_ts]


@pytest.mark.parametrize("action", [APPROVE, REJECT])
def test_a_click_on_a_finished_or_stopped_run_is_refused_and_cancels(action: str) -> None:
    env = make_env()
    approval = request(env)
    env["callbacks"].gone.add("token-1")  # the execution finished, was stopped or timed out

    outcome = decide(env, approval, action=action)

    assert not outcome.accepted and not outcome.decided_now
    assert "no longer waiting" in outcome.message and "nothing was" in outcome.message
    record = stored(env, approval)
    assert record.status is ApprovalStatus.CANCELLED and "InvalidToken" in record.reason
    assert [d.user for d in record.decisions] == ["UAPPROVER"]  # the click stays on record
    assert card_of(env, approval)["text"].startswith("CANCELLED")  # buttons gone
    assert env["sleeps"].calls == []  # a gone task is an answer: no retry
    again = decide(env, approval, user="USECOND")
    assert not again.accepted and "cancelled" in again.message


def test_a_callback_that_fails_twice_is_retried_with_backoff() -> None:
    env = make_env(FlakyCallbacks(2))
    approval = request(env)
    outcome = decide(env, approval)
    assert outcome.decided_now
    assert env["sleeps"].calls == [0.2, 0.4]
    assert len(env["callbacks"].successes) == 1
    assert stored(env, approval).status is ApprovalStatus.APPROVED


def test_a_callback_that_keeps_failing_reverts_to_pending_and_asks_again() -> None:
    env = make_env(FlakyCallbacks(3))
    approval = request(env, required=2)
    decide(env, approval, user="USECOND")  # the first approval counts (no callback yet)

    outcome = decide(env, approval)

    assert not outcome.accepted and "not counted" in outcome.message and "click again" in outcome.message
    record = stored(env, approval)
    assert record.status is ApprovalStatus.PENDING  # never APPROVED while the run still waits
    assert record.approvers == ("USECOND",) and record.decided_by is None
    assert "could not be delivered" in record.reason
    assert card_of(env, approval)["text"].endswith("1 of 2")  # the live card, buttons back
    assert env["callbacks"].attempts == 3 and env["sleeps"].calls == [0.2, 0.4]
    # Clicking again works once Step Functions answers.
    assert decide(env, approval).decided_now
    assert stored(env, approval).approvers == ("USECOND", "UAPPROVER")


def test_an_undelivered_decision_then_a_timeout_ends_expired() -> None:
    env = make_env(FlakyCallbacks(99))
    approval = request(env)
    decide(env, approval)
    assert stored(env, approval).status is ApprovalStatus.PENDING
    assert env["service"].expire("arn:exec:1", "ships") == [approval.id]
    assert stored(env, approval).status is ApprovalStatus.EXPIRED


def test_gone_after_a_failed_attempt_keeps_the_decision() -> None:
    """The first attempt may have reached the run before failing: the write stands."""
    callbacks = FlakyCallbacks(1)
    env = make_env(callbacks)
    approval = request(env)
    callbacks.gone.add("token-1")
    outcome = decide(env, approval)
    assert outcome.accepted
    assert stored(env, approval).status is ApprovalStatus.APPROVED


def test_a_card_update_that_fails_twice_is_retried() -> None:
    env = make_env(notifier=FlakyNotifier())
    approval = request(env)
    env["notifier"].update_failures = 2
    assert decide(env, approval).decided_now
    assert card_of(env, approval)["text"].startswith("APPROVED")
    assert env["sleeps"].calls == [0.2, 0.4]


def test_a_card_that_cannot_be_updated_never_changes_the_decision() -> None:
    env = make_env(notifier=FlakyNotifier())
    approval = request(env)
    env["notifier"].update_failures = 99
    outcome = decide(env, approval)
    assert outcome.decided_now and stored(env, approval).status is ApprovalStatus.APPROVED
    assert len(env["callbacks"].successes) == 1
    assert card_of(env, approval)["text"].startswith("card")  # stale, and only the card


def test_a_card_that_cannot_be_posted_leaves_the_request_pending_and_decidable() -> None:
    """Slack down is no reason to end the run (docs/contracts.md, "When Slack is down"): the
    stored record is decided by a signed interaction instead, and the run is told as usual."""
    env = make_env(notifier=FlakyNotifier(post_failures=99))
    approval = request(env)
    assert approval.slack_ts is None and env["sleeps"].calls == [0.2, 0.4]  # retried, then left
    assert stored(env, approval).status is ApprovalStatus.PENDING
    assert env["callbacks"].failures == []
    outcome = decide(env, approval)
    assert outcome.decided_now and stored(env, approval).status is ApprovalStatus.APPROVED
    assert len(env["callbacks"].successes) == 1


def test_a_request_whose_record_cannot_be_stored_fails_and_stays_unclickable() -> None:
    env = make_env()

    def put_then_lose_the_answer(approval: Approval) -> None:
        FakeApprovalStore.put(env["store"], approval)
        raise TimeoutError("no answer from the table")

    env["store"].put = put_then_lose_the_answer
    with pytest.raises(ApprovalRequestFailed, match="could not be stored"):
        request(env)
    (record,) = env["store"].items.values()
    assert record.status is ApprovalStatus.CANCELLED and env["notifier"].messages == {}


def test_a_card_post_that_fails_once_is_retried() -> None:
    env = make_env(notifier=FlakyNotifier(post_failures=1))
    approval = request(env)
    assert stored(env, approval).status is ApprovalStatus.PENDING and approval.slack_ts


def test_superseding_tolerates_a_gone_older_run() -> None:
    env = make_env()
    old = request(env, execution="arn:exec:1", token="token-1")
    env["callbacks"].gone.add("token-1")
    env["clock"].advance(1)  # pushed at the same time: the later request is the newer
    request(env, execution="arn:exec:2", token="token-2")
    assert stored(env, old).status is ApprovalStatus.SUPERSEDED


def test_retry_gives_up_after_its_attempts_and_never_retries_a_gone_task() -> None:
    sleeps = Sleeps()
    retry = Retry(2, 0.5, sleeps)
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise ThrottledError("x")

    with pytest.raises(ThrottledError):
        retry.call("x", failing)
    assert len(calls) == 2 and sleeps.calls == [0.5]

    def gone() -> None:
        raise TaskGoneError("gone", "TaskTimedOut")

    with pytest.raises(TaskGoneError):
        retry.call("x", gone)
    assert retry.best_effort("x", gone) is False
    with pytest.raises(ValueError, match="at least one attempt"):
        Retry(0)
