"""``demo --roll-back``: finding the run's "Roll back prod" button, reading its line, the summary."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from rich.console import Console

from mlops_pipeline.adapters.slack import views
from mlops_pipeline.local.stack.client import StackClient
from mlops_pipeline.local.stack.demo_rollback import (
    NOTHING_TO_ROLL_BACK,
    roll_back_from_slack,
    rollback_button,
    rollback_line,
    summary_line,
)

EXECUTION = "arn:aws:states:eu-west-1:111111111111:execution:pipeline:run-1"


def _message(ts: str, view: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    text, blocks = view
    return {"ts": ts, "text": text, "blocks": blocks}


def _final(ts: str = "3.0") -> dict[str, Any]:
    view = views.success_with_rollback(
        "ReportSucceeded", "SUCCEEDED", "prod v2", None, "run-1", "m", "2", "1"
    )
    return _message(ts, view)


def _approval_card() -> dict[str, Any]:
    buttons = [{"type": "button", "action_id": a, "value": "ap-1"} for a in ("approve", "reject")]
    return {"ts": "2.0", "text": "approve?", "blocks": [{"type": "actions", "elements": buttons}]}


def test_the_button_is_the_final_messages_not_the_approval_cards() -> None:
    thread = [{"ts": "1.0", "text": "run"}, _approval_card(), _final("3.0")]
    found = rollback_button(thread)
    assert found is not None
    assert found[0] == "3.0"
    assert found[1]["action_id"] == "rollback_prod"
    assert found[1]["value"] == "run-1"


def test_no_button_on_a_first_deployment() -> None:
    plain = _message("3.0", views.progress("ReportSucceeded", "SUCCEEDED", "prod v1"))
    assert rollback_button([{"ts": "1.0", "text": "run"}, _approval_card(), plain]) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [("SUCCEEDED", "succeeded"), ("REFUSED", "refused"), ("ERROR", "error")],
)
def test_the_line_is_read_from_the_reporters_text(status: str, expected: str) -> None:
    line = _message("4.0", views.progress("RollbackProdByHand", status, "prod live back to Lambda v2"))
    assert rollback_line([_final(), line]) == (expected, "prod live back to Lambda v2")
    assert rollback_line([_final()]) is None


def test_the_lines_detail_is_unescaped() -> None:
    line = _message("4.0", views.progress("RollbackProdByHand", "REFUSED", "by <@U0APPROVER> & co"))
    assert "&lt;" in line["text"]
    assert rollback_line([line]) == ("refused", "by <@U0APPROVER> & co")


def test_summary_says_where_prod_and_the_registry_are() -> None:
    done = summary_line("succeeded", "x", before="3", after="2", registry="1")
    assert done.ok
    assert done.line == "rolled back from Slack: prod live v3 -> v2, registry production -> version 1"
    # A "succeeded" line while live did not move is not a rollback.
    assert not summary_line("succeeded", "x", before="3", after="3", registry="1").ok
    refused = summary_line("refused", "prod moved on", before="3", after="3", registry="2")
    assert not refused.ok
    assert refused.line == "rollback from Slack refused: prod moved on"


class FakeClient:
    """The inbox of a local stack: the run's thread, ephemerals, and clicks that add a line."""

    def __init__(self, thread: list[dict[str, Any]], answer: dict[str, Any] | None) -> None:
        self.info = SimpleNamespace(channel="C0PIPELINE")
        self.real_slack = False
        self._thread = thread
        self._answer = answer
        self.ephemerals: list[dict[str, Any]] = [{"user": "U0APPROVER", "text": "Refused: old one"}]
        self.clicks: list[tuple[str, str, str]] = []
        self.live = "3"

    def runs(self) -> Any:
        return SimpleNamespace(get=lambda execution: SimpleNamespace(slack_thread_ts="1.0"))

    def thread(self, thread_ts: str) -> list[dict[str, Any]]:
        assert thread_ts == "1.0"
        return list(self._thread)

    def inbox(self) -> dict[str, Any]:
        return {"ephemerals": list(self.ephemerals)}

    def click(self, message_ts: str, action: str, user: str) -> tuple[int, str]:
        self.clicks.append((message_ts, action, user))
        if self._answer is not None and "ts" in self._answer:  # a line in the thread
            self._thread.append(self._answer)
            self.live = "2"
        elif self._answer is not None:  # an ephemeral answer to the clicker
            self.ephemerals.append(self._answer)
        return 200, ""


def _run(fake: FakeClient, timeout: float = 30.0) -> Any:
    return roll_back_from_slack(
        cast(StackClient, fake),
        EXECUTION,
        "m",
        timeout=timeout,
        console=Console(quiet=True),
        sleep=lambda _: None,
        live_version=lambda: fake.live,
        registry_version=lambda: "1",
    )


def test_click_as_the_approver_then_the_line_and_the_summary() -> None:
    line = _message("4.0", views.progress("RollbackProdByHand", "SUCCEEDED", "prod live back"))
    fake = FakeClient([{"ts": "1.0", "text": "run"}, _approval_card(), _final("3.0")], line)
    outcome = _run(fake)
    assert fake.clicks == [("3.0", "rollback_prod", "U0APPROVER")]
    assert outcome.ok
    assert outcome.line == "rolled back from Slack: prod live v3 -> v2, registry production -> version 1"


def test_a_first_deployment_has_nothing_to_roll_back() -> None:
    plain = _message("3.0", views.progress("ReportSucceeded", "SUCCEEDED", "prod v1"))
    fake = FakeClient([{"ts": "1.0", "text": "run"}, plain], None)
    outcome = _run(fake)
    assert not outcome.ok
    assert NOTHING_TO_ROLL_BACK in outcome.line
    assert fake.clicks == []


def test_a_refusal_by_ephemeral_ends_the_wait() -> None:
    refusal = {"user": "U0APPROVER", "text": "Refused: prod moved on"}
    fake = FakeClient([{"ts": "1.0", "text": "run"}, _final("3.0")], refusal)
    outcome = _run(fake)
    assert not outcome.ok
    # The new answer, not the older one already in the inbox.
    assert outcome.line == "rollback from Slack refused: Refused: prod moved on"


def test_no_line_within_the_timeout_is_a_failure() -> None:
    fake = FakeClient([{"ts": "1.0", "text": "run"}, _final("3.0")], None)
    outcome = _run(fake, timeout=0.0)
    assert not outcome.ok
    assert "no RollbackProdByHand line" in outcome.line
