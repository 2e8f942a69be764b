"""The approval path through the handlers: trusted author, quorum, runs that no longer wait."""

import json
from typing import Any

import pytest

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.handlers import notify, request_approval
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeNotifier
from tests.unit.handlers.test_handlers import (
    ENV,
    EXECUTION,
    TRIGGER,
    _click,
    _request,
    _sns,
    deps,
    model,
)

__all__ = ["deps"]  # the fixture, shared with test_handlers


def card_message(deps: Deps, approval_id: str) -> dict[str, Any]:
    record = deps.approvals_store.get(approval_id)
    assert record is not None and record.slack_ts
    notifier = deps.notifier
    assert isinstance(notifier, FakeNotifier)
    return notifier.messages[record.slack_ts]


def ephemerals(deps: Deps) -> list[str]:
    notifier = deps.notifier
    assert isinstance(notifier, FakeNotifier)
    return [e["text"] for e in notifier.ephemerals]


# -- who the author is ------------------------------------------------------------------------


def test_the_author_comes_from_the_trigger_never_from_the_git_email(deps: Deps) -> None:
    # The commit claims ds@example.com (UAUTHOR in the workspace); the trigger says who pushed.
    m = model(deps)
    assert m["author_email"] == "ds@example.com"
    colleague = {**TRIGGER, "author": "arn:aws:sts::111111111111:assumed-role/Dev/ds@example.com"}
    out = request_approval.handle(
        {"token": "T", "execution": EXECUTION, "input": colleague, "model": m}, deps
    )
    record = deps.approvals_store.get(out["approval_id"])
    assert record is not None
    assert (record.author, record.author_slack_id, record.required_approvals) == (
        colleague["author"],
        None,
        2,
    )
    assert record.git_author == "ds@example.com"
    shown = json.dumps(card_message(deps, out["approval_id"])["blocks"])
    assert "git author (unverified): ds@example.com" in shown
    assert "could not be identified" in shown and "0 of 2" in shown


def test_a_resolved_author_shows_on_the_card(deps: Deps) -> None:
    out = _request(deps, model(deps))
    shown = json.dumps(card_message(deps, out["approval_id"])["blocks"])
    assert "<@UAUTHOR>" in shown and "IDENTITY_MAP entry" in shown and "0 of 1" in shown


# -- quorum through the endpoint --------------------------------------------------------------


def test_two_approvals_through_the_endpoint(deps: Deps) -> None:
    deps.env = {**ENV, "APPROVERS": "UAPPROVER,USECOND", "REQUIRED_APPROVALS": "2"}
    out = _request(deps, model(deps))
    approval_id = out["approval_id"]

    _click(deps, approval_id, "UAPPROVER")
    assert "1 of 2" in ephemerals(deps)[-1]
    assert "1 of 2" in json.dumps(card_message(deps, approval_id)["blocks"])  # updated live
    _click(deps, approval_id, "UAPPROVER")
    assert "already counted" in ephemerals(deps)[-1]
    assert deps.callbacks.successes == []

    _click(deps, approval_id, "USECOND")
    record = deps.approvals_store.get(approval_id)
    assert record is not None and record.status is ApprovalStatus.APPROVED
    assert deps.callbacks.successes[0][1]["approved_by"] == "UAPPROVER,USECOND"
    thread = json.dumps(deps.notifier.messages)  # type: ignore[attr-defined]
    assert "by &lt;@UAPPROVER&gt;, &lt;@USECOND&gt;" in thread  # the thread's Approval line


@pytest.mark.parametrize("value", ["0", "6", "two"])
def test_bad_required_approvals_is_a_config_error(deps: Deps, value: str) -> None:
    deps.env = {**ENV, "REQUIRED_APPROVALS": value}
    with pytest.raises(ConfigError, match="REQUIRED_APPROVALS"):
        _request(deps, model(deps))


def test_a_bad_identity_map_fails_the_request_not_the_clicks(deps: Deps) -> None:
    out = _request(deps, model(deps))
    deps.env = {**ENV, "IDENTITY_MAP": '{"x": "not-a-slack-id"}'}
    with pytest.raises(ConfigError, match="IDENTITY_MAP"):
        _request(deps, model(deps))
    _click(deps, out["approval_id"], "UAPPROVER")
    record = deps.approvals_store.get(out["approval_id"])
    assert record is not None and record.status is ApprovalStatus.APPROVED


# -- runs that no longer wait -----------------------------------------------------------------


def test_a_click_on_a_stopped_run_is_refused_and_the_card_says_so(deps: Deps) -> None:
    out = _request(deps, model(deps))
    deps.callbacks.gone.add("TASKTOKEN")  # type: ignore[attr-defined]
    assert _click(deps, out["approval_id"], "UAPPROVER")["statusCode"] == 200
    assert "no longer waiting" in ephemerals(deps)[-1]
    record = deps.approvals_store.get(out["approval_id"])
    assert record is not None and record.status is ApprovalStatus.CANCELLED
    message = card_message(deps, out["approval_id"])
    assert "Cancelled" in message["text"]
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert deps.runs.get(EXECUTION).status != "APPROVED"  # no "approved" line in the thread


@pytest.mark.parametrize(("status", "ended"), [("ABORTED", "CANCELLED"), ("TIMED_OUT", "EXPIRED")])
def test_a_dead_run_ends_its_pending_approval_through_notify(deps: Deps, status: str, ended: str) -> None:
    out = _request(deps, model(deps))
    notify.handle(_sns({"executionArn": EXECUTION, "status": status, "input": json.dumps(TRIGGER)}), deps)
    record = deps.approvals_store.get(out["approval_id"])
    assert record is not None and record.status.value == ended and status in record.reason
    assert not [b for b in card_message(deps, out["approval_id"])["blocks"] if b["type"] == "actions"]
    _click(deps, out["approval_id"], "UAPPROVER")
    assert status in ephemerals(deps)[-1] and deps.callbacks.successes == []


def test_notify_ends_approvals_even_when_the_run_reported_its_own_failure(deps: Deps) -> None:
    out = _request(deps, model(deps))
    deps.runs.update(EXECUTION, status="FAILED")
    assert notify.handle(_sns({"executionArn": EXECUTION, "status": "FAILED"}), deps) == {"posted": 0}
    record = deps.approvals_store.get(out["approval_id"])
    assert record is not None and record.status is ApprovalStatus.CANCELLED
