"""RunStore contract: the fake and DynamoRunStore (moto) answer alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mlops_pipeline.domain.errors import RunNotFoundError
from mlops_pipeline.domain.models import MessageRef, StepLog, StepStatus
from mlops_pipeline.ports import RunStore

from .samples import T0, run

pytestmark = pytest.mark.functional


def test_create_if_absent_is_idempotent(run_store: RunStore) -> None:
    assert run_store.create_if_absent(run()) == run()
    assert run_store.create_if_absent(replace(run(), commit="other")) == run()
    assert run_store.get("exec-1") == run()
    assert run_store.get("missing") is None


def test_thread_is_set_once(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    assert run_store.set_thread("exec-1", MessageRef("C1", "111.1")) is True
    assert run_store.set_thread("exec-1", MessageRef("C2", "222.2")) is False
    stored = run_store.get("exec-1")
    assert stored is not None
    assert (stored.slack_channel, stored.slack_thread_ts) == ("C1", "111.1")


def test_missing_run_is_not_found(run_store: RunStore) -> None:
    with pytest.raises(RunNotFoundError):
        run_store.set_thread("missing", MessageRef("C1", "1"))
    with pytest.raises(RunNotFoundError):
        run_store.record_step("missing", StepStatus("Build", "STARTED", T0))
    with pytest.raises(RunNotFoundError):
        run_store.update("missing", status="FAILED")
    with pytest.raises(RunNotFoundError):
        run_store.mark_posted("missing", 0, 1)
    run_store.update("missing")  # no fields: nothing to do, nothing raised
    assert run_store.get("missing") is None


def test_steps_append_in_order(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    s1 = StepStatus("Build", "STARTED", T0)
    s2 = StepStatus("Build", "SUCCEEDED", T0 + timedelta(minutes=3), detail="model iris v3")
    run_store.record_step("exec-1", s1)
    run_store.record_step("exec-1", s2)
    stored = run_store.get("exec-1")
    assert stored is not None
    assert stored.steps == (s1, s2)


def test_posted_count_moves_only_from_what_the_caller_saw(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    for minute in range(3):
        run_store.record_step(
            "exec-1", StepStatus(f"Step{minute}", "SUCCEEDED", T0 + timedelta(minutes=minute))
        )
    stored = run_store.get("exec-1")
    assert stored is not None and stored.posted == 0 and len(stored.pending) == 3

    assert run_store.mark_posted("exec-1", 0, 1) is True
    assert run_store.mark_posted("exec-1", 0, 1) is False  # a second reporter that read 0 too
    assert run_store.mark_posted("exec-1", 1, 3) is True
    stored = run_store.get("exec-1")
    assert stored is not None
    assert stored.posted == 3 and stored.pending == ()
    run_store.record_step("exec-1", StepStatus("Pipeline", "SUCCEEDED", T0 + timedelta(minutes=9)))
    stored = run_store.get("exec-1")
    assert stored is not None
    assert [s.step for s in stored.pending] == ["Pipeline"]


@pytest.mark.parametrize(("seen", "posted"), [(-1, 1), (2, 2), (3, 1)])
def test_posted_count_refuses_a_move_that_is_not_forward(run_store: RunStore, seen: int, posted: int) -> None:
    run_store.create_if_absent(run())
    with pytest.raises(ValueError, match="seen"):
        run_store.mark_posted("exec-1", seen, posted)
    assert run_store.get("exec-1") == run()


def test_update_sets_strings_and_none_clears_to_the_default(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    run_store.update("exec-1", status="SUCCEEDED", model="iris", version=3)
    stored = run_store.get("exec-1")
    assert stored is not None
    assert (stored.status, stored.model, stored.version) == ("SUCCEEDED", "iris", "3")

    run_store.update("exec-1", version=None, status=None, commit=None)
    stored = run_store.get("exec-1")
    assert stored is not None
    assert (stored.status, stored.model, stored.version, stored.commit) == ("RUNNING", "iris", None, "")


def test_update_records_how_the_model_is_served(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    run_store.update("exec-1", serving_flavor="skops", serving_fallback_reason="no converter for SVR")
    stored = run_store.get("exec-1")
    assert stored is not None
    assert (stored.serving_flavor, stored.serving_fallback_reason) == ("skops", "no converter for SVR")
    run_store.update("exec-1", serving_flavor="onnx", serving_fallback_reason=None)
    stored = run_store.get("exec-1")
    assert stored is not None and (stored.serving_flavor, stored.serving_fallback_reason) == ("onnx", "")


@pytest.mark.parametrize(
    "field", ["steps", "posted", "slack_thread_ts", "slack_channel", "started_at", "nonsense"]
)
def test_update_refuses_other_fields(run_store: RunStore, field: str) -> None:
    run_store.create_if_absent(run())
    with pytest.raises(ValueError, match=field):
        run_store.update("exec-1", status="FAILED", **{field: None})
    assert run_store.get("exec-1") == run()  # nothing changed


def test_list_recent_newest_first(run_store: RunStore) -> None:
    for i in (2, 0, 3, 1):
        run_store.create_if_absent(run(f"exec-{i}", minutes=i))
    run_store.create_if_absent(run("not-started", minutes=None))

    assert [r.execution for r in run_store.list_recent()] == ["exec-3", "exec-2", "exec-1", "exec-0"]
    assert [r.execution for r in run_store.list_recent(limit=2)] == ["exec-3", "exec-2"]
    assert run_store.list_recent(limit=0) == []
    assert run_store.list_recent(limit=-1) == []


def test_a_steps_build_log_is_kept(run_store: RunStore) -> None:
    run_store.create_if_absent(run())
    log = StepLog(
        "/state/logs/codebuild/b.log", ("Traceback (most recent call last):", "ModuleNotFoundError: x")
    )
    unread = StepLog("https://console.aws.amazon.com/cloudwatch/home", error="the log could not be read")
    run_store.record_step("exec-1", StepStatus("Build", "FAILED", T0, "States.TaskFailed", log=log))
    run_store.record_step("exec-1", StepStatus("Train", "FAILED", T0, log=unread))
    run_store.record_step("exec-1", StepStatus("Pipeline", "FAILED", T0))
    stored = run_store.get("exec-1")
    assert stored is not None
    assert [s.log for s in stored.steps] == [log, unread, None]
