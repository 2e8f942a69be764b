"""Reporter: every step recorded first, posted best-effort, caught up in order once chat is back."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_pipeline.domain.delivery import Retry
from mlops_pipeline.domain.errors import RunNotFoundError
from mlops_pipeline.domain.models import StepStatus
from mlops_pipeline.domain.reporting import POST_ATTEMPTS, POST_PAUSE_SECONDS, Reporter
from tests.fakes import FakeClock, FakeRunStore
from tests.unit.chat_outage import ChatOutage

EXEC = "arn:aws:states:us-east-1:111111111111:execution:p:run-1"
TRIGGER = {"commit": "abc123", "repository": "models", "branch": "main", "author": "ds"}


def reporter(runs: FakeRunStore, chat: ChatOutage, pauses: list[float] | None = None) -> Reporter:
    sleep = (pauses if pauses is not None else []).append
    return Reporter(runs, chat, FakeClock(), "C1", retry=Retry(POST_ATTEMPTS, POST_PAUSE_SECONDS, sleep))


def replies(runs: FakeRunStore, chat: ChatOutage) -> list[str]:
    run = runs.get(EXEC)
    assert run is not None and run.slack_thread_ts
    return chat.texts(run.slack_thread_ts)


def test_chat_down_records_every_step_and_raises_nothing() -> None:
    runs, chat = FakeRunStore(), ChatOutage()
    chat.down = True
    report = reporter(runs, chat)
    assert report.step(EXEC, "Pipeline", "STARTED", trigger=TRIGGER) is False
    assert report.step(EXEC, "DeployStage", "SUCCEEDED", "live v1 -> v2") is False
    assert report.step(EXEC, "Pipeline", "SUCCEEDED") is False
    run = runs.get(EXEC)
    assert run is not None
    assert [(s.step, s.status) for s in run.steps] == [
        ("Pipeline", "STARTED"),
        ("DeployStage", "SUCCEEDED"),
        ("Pipeline", "SUCCEEDED"),
    ]
    assert run.status == "SUCCEEDED"  # the outcome is the record's, not the chat's
    assert run.slack_thread_ts is None and run.posted == 0
    assert chat.messages == {}
    # Each report tried the root twice and stopped there (bounded: no post storm, no hang).
    assert chat.refused == 3 * POST_ATTEMPTS


def test_back_online_the_next_report_posts_the_root_late_then_every_step_in_order_once() -> None:
    runs, chat = FakeRunStore(), ChatOutage()
    report = reporter(runs, chat)
    chat.down = True
    report.step(EXEC, "Pipeline", "STARTED", trigger=TRIGGER)
    report.step(EXEC, "Build", "SUCCEEDED", "iris v3")
    chat.down = False
    assert report.step(EXEC, "Evaluate", "SUCCEEDED", "rmse 2 < 3") is True
    assert replies(runs, chat) == [
        "Pipeline: STARTED",
        "Build: SUCCEEDED - iris v3",
        "Evaluate: SUCCEEDED - rmse 2 < 3",
    ]
    root = chat.thread(runs.get(EXEC).slack_thread_ts or "")[0]
    assert root["text"] == "Pipeline run for abc123 on models/main by ds" and root["thread_ts"] is None
    # Nothing is posted twice afterwards.
    assert report.catch_up(EXEC) is True
    report.step(EXEC, "Pipeline", "SUCCEEDED")
    assert len(replies(runs, chat)) == 4
    assert runs.get(EXEC).posted == 4


def test_an_outage_mid_thread_resumes_where_it_stopped() -> None:
    runs, chat = FakeRunStore(), ChatOutage()
    report = reporter(runs, chat)
    report.step(EXEC, "Pipeline", "STARTED", trigger=TRIGGER)
    chat.down = True
    report.step(EXEC, "DeployStage", "SUCCEEDED")
    report.step(EXEC, "SmokeTestStage", "SUCCEEDED")
    assert runs.get(EXEC).posted == 1
    chat.down = False
    assert report.catch_up(EXEC) is True  # what the final notify does
    assert replies(runs, chat) == ["Pipeline: STARTED", "DeployStage: SUCCEEDED", "SmokeTestStage: SUCCEEDED"]


def test_a_failed_post_is_tried_again_inline_after_a_short_pause() -> None:
    runs, chat, pauses = FakeRunStore(), ChatOutage(), []
    report = reporter(runs, chat, pauses)
    chat.failures = 1  # the root's first attempt
    assert report.step(EXEC, "Pipeline", "STARTED", trigger=TRIGGER) is True
    assert pauses == [POST_PAUSE_SECONDS]
    assert replies(runs, chat) == ["Pipeline: STARTED"]


def test_the_thread_is_none_while_chat_is_down_and_the_thread_once_back() -> None:
    runs, chat = FakeRunStore(), ChatOutage()
    report = reporter(runs, chat)
    chat.down = True
    assert report.thread(EXEC, TRIGGER) is None
    assert runs.get(EXEC) is not None  # the record exists all the same
    chat.down = False
    thread = report.thread(EXEC)
    assert thread is not None and thread.ts == runs.get(EXEC).slack_thread_ts


def test_a_reporter_that_lost_the_race_for_the_count_stops_posting() -> None:
    runs, chat = FakeRunStore(), ChatOutage()
    report = reporter(runs, chat)
    chat.down = True
    report.step(EXEC, "Pipeline", "STARTED", trigger=TRIGGER)
    report.step(EXEC, "Build", "SUCCEEDED")
    chat.down = False
    original = runs.mark_posted

    def other_reporter_first(execution: str, seen: int, posted: int) -> bool:
        original(execution, seen, posted)  # another report marked this step a moment earlier
        return original(execution, seen, posted)

    runs.mark_posted = other_reporter_first  # type: ignore[method-assign]
    assert report.catch_up(EXEC) is False
    assert replies(runs, chat) == ["Pipeline: STARTED"]  # the other one carries on from here


class BrokenRunStore(FakeRunStore):
    def record_step(self, execution: str, step: StepStatus) -> None:
        raise RuntimeError("DynamoDB is throttling")

    def get(self, execution: str) -> Any:
        raise RunNotFoundError("nope")


@pytest.mark.parametrize("call", ["step", "thread", "catch_up"])
def test_a_failing_run_store_is_logged_never_raised(call: str, caplog: pytest.LogCaptureFixture) -> None:
    report = reporter(BrokenRunStore(), ChatOutage())
    if call == "step":
        assert report.step(EXEC, "Build", "STARTED", trigger=TRIGGER) is False
    elif call == "thread":
        assert report.thread(EXEC, TRIGGER) is None
    else:
        assert report.catch_up(EXEC) is False
    assert any(record.exc_info for record in caplog.records)  # logged with its traceback
