"""Block Kit views: what the approver and the thread readers see."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_pipeline.adapters.slack import views
from mlops_pipeline.domain.models import Approval, ApprovalStatus, Decision, RunRecord

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

APPROVAL = Approval(
    id="appr_0123456789abcdef",
    task_token="secret-task-token-never-on-a-card",
    execution="arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:run-42",
    model="churn",
    version="7",
    commit="0123456789abcdef0123456789abcdef01234567",
    author="dana@example.com",
    requested_at=NOW,
    expires_at=NOW + timedelta(hours=24),
)

EVALUATION: dict[str, Any] = {
    "metric": "rmse",
    "direction": "lower",
    "tolerance": 0.05,
    "candidate": 0.40,
    "champion": 0.50,
    "champion_version": "6",
    "metrics": {"rmse": 0.40, "r2": 0.91},
    "champion_metrics": {"rmse": 0.50, "r2": 0.88},
    "reason": "rmse 0.4 is better than champion 0.5",
    "passed": True,
}
SMOKE = {"passed": True, "latency_ms": 41.7, "rows": 3, "executed_version": "12"}


def blocks_of(kind: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == kind]


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_approval_card_buttons_carry_only_the_approval_id() -> None:
    _, blocks = views.approval_card(APPROVAL, EVALUATION, SMOKE)
    (actions,) = blocks_of("actions", blocks)
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert set(buttons) == {"approve", "reject"}
    for button in buttons.values():
        assert button["value"] == APPROVAL.id
        assert button["confirm"]["confirm"]["text"] in {"Approve", "Reject"}
    assert buttons["approve"]["style"] == "primary"
    assert buttons["reject"]["style"] == "danger"
    assert APPROVAL.task_token not in all_text(blocks)


def test_approval_card_shows_identity_metrics_smoke_and_expiry() -> None:
    text, blocks = views.approval_card(APPROVAL, EVALUATION, SMOKE, mlflow_url="https://mlflow.example/#/m/7")
    rendered = all_text(blocks)
    assert "churn" in text and "v7" in text and "0123456" in text
    for expected in (
        "`0123456`",
        "dana@example.com",
        "*0.4*",
        "champion v6 *0.5*",
        "-0.1 (-20.0 %, better)",
        "42 ms",
        "3 rows",
        "Expires 2026-11-27 12:00 UTC",
        "<https://mlflow.example/#/m/7|MLflow>",
        "*r2*\\n0.91 (champion 0.88, Δ +0.03 (+3.4 %))",
    ):
        assert expected in rendered, expected
    assert views.approval_card(APPROVAL, EVALUATION, None)[1] != blocks
    assert "not run" in all_text(views.approval_card(APPROVAL, EVALUATION, None)[1])


def test_first_model_has_no_champion() -> None:
    first = {**EVALUATION, "champion": None, "champion_version": None, "champion_metrics": {}}
    rendered = all_text(views.approval_card(APPROVAL, first, SMOKE)[1])
    assert "no champion yet" in rendered
    assert "Δ" not in rendered


@pytest.mark.parametrize(
    ("candidate", "champion", "direction", "expected"),
    [
        (0.40, 0.50, "lower", "-0.1 (-20.0 %, better)"),
        (0.60, 0.50, "lower", "+0.1 (+20.0 %, worse)"),
        (0.95, 0.90, "higher", "+0.05 (+5.6 %, better)"),
        (0.85, 0.90, "higher", "-0.05 (-5.6 %, worse)"),
        (0.5, 0.5, "lower", "±0 (±0.0 %, same)"),
        (0.2, 0.0, "lower", "+0.2 (worse)"),
        (0.2, 0.1, None, "+0.1 (+100.0 %)"),
        (None, 0.1, "lower", "n/a"),
        (float("nan"), 0.1, "lower", "n/a"),
    ],
)
def test_deltas_have_the_right_sign_and_verdict(
    candidate: float | None, champion: float, direction: str | None, expected: str
) -> None:
    assert views.format_delta(candidate, champion, direction) == expected


def text_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") in {"mrkdwn", "plain_text"} else []
        return found + [t for v in node.values() for t in text_objects(v)]
    if isinstance(node, list):
        return [t for v in node for t in text_objects(v)]
    return []


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [t["text"] for t in text_objects(blocks) if t["type"] == "mrkdwn"]


def plain_texts(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in text_objects(blocks) if "<!channel>" in t["text"]]


def test_user_text_is_escaped_everywhere() -> None:
    hostile = replace(APPROVAL, model="<!channel> & <https://evil.example|click>", author="<@U0ADMIN>")
    evaluation = {**EVALUATION, "reason": "<!here> pwned", "metrics": {"<b>": 1.0}}
    text, blocks = views.approval_card(hostile, evaluation, SMOKE)
    # mrkdwn is where <...> means something; plain_text (header, button labels) shows it literally.
    rendered = text + "\n".join(mrkdwn_texts(blocks))
    assert plain_texts(blocks)
    assert all(t["type"] == "plain_text" for t in plain_texts(blocks))
    for raw in ("<!channel>", "<!here>", "<https://evil", "<@U0ADMIN>", "<b>"):
        assert raw not in rendered
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in rendered
    assert views.escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_a_link_that_would_break_out_of_mrkdwn_is_dropped() -> None:
    _, blocks = views.approval_card(APPROVAL, EVALUATION, SMOKE, mlflow_url="https://x.example/|<!channel>")
    assert "<!channel>" not in all_text(blocks)
    assert "MLflow" not in all_text(blocks)


@pytest.mark.parametrize(
    ("status", "by", "expected"),
    [
        (ApprovalStatus.APPROVED, "U0APPROVER", "Approved by <@U0APPROVER> at 2026-11-26 13:30 UTC"),
        (ApprovalStatus.REJECTED, "U0APPROVER", "Rejected by <@U0APPROVER> at 2026-11-26 13:30 UTC"),
        (ApprovalStatus.EXPIRED, None, "Expired at 2026-11-26 13:30 UTC"),
        (ApprovalStatus.SUPERSEDED, None, "Superseded by a newer run"),
        (ApprovalStatus.APPROVED, "<!channel>", "Approved by &lt;!channel&gt; at"),
    ],
)
def test_decided_card_has_no_buttons_and_says_who_and_when(
    status: ApprovalStatus, by: str | None, expected: str
) -> None:
    decided = APPROVAL.with_status(status, by, NOW + timedelta(minutes=90))
    decided = replace(decided, details={"evaluation": EVALUATION, "smoke": SMOKE})
    text, blocks = views.decided_card(decided)
    assert not blocks_of("actions", blocks)
    assert expected in all_text(blocks)
    assert expected in text
    assert "-0.1 (-20.0 %, better)" in all_text(blocks)  # metrics kept from details


def test_decided_card_refuses_a_pending_approval() -> None:
    with pytest.raises(ValueError, match="PENDING"):
        views.decided_card(APPROVAL)


def test_run_header_names_commit_repo_branch_author() -> None:
    run = RunRecord(
        execution=APPROVAL.execution,
        commit=APPROVAL.commit,
        repository="churn-model",
        branch="main",
        author="Dana <dana@example.com>",
        started_at=NOW,
    )
    text, blocks = views.run_header(run, mlflow_url="https://mlflow.example/")
    rendered = all_text(blocks)
    for expected in ("`0123456`", "churn-model", "main", "Dana &lt;dana@example.com&gt;", "run-42", "MLflow"):
        assert expected in rendered, expected
    assert "churn-model@main" in text and "<dana" not in text


@pytest.mark.parametrize(
    ("status", "emoji"),
    [
        ("STARTED", "⏳"),
        ("SUCCEEDED", "✅"),
        ("FAILED", "❌"),
        ("REJECTED", "⛔"),
        ("EXPIRED", "⌛"),
        ("SUPERSEDED", "⏭️"),
        ("WHATEVER", "❔"),
    ],
)
def test_progress_is_one_line_with_an_emoji_per_status(status: str, emoji: str) -> None:
    text, blocks = views.progress("DeployStage", status, "version 12 <live>")
    (section,) = blocks
    line = section["text"]["text"]
    assert line.startswith(f"{emoji} *DeployStage* ")
    assert "\n" not in line
    assert "version 12 &lt;live&gt;" in line and "<live>" not in text


def test_final_status_names_the_execution() -> None:
    text, blocks = views.final_status(
        APPROVAL.execution, "FAILED", "SmokeTestFailedError: latency 5000 ms > 3000"
    )
    assert text.startswith("❌ Run run-42 failed")
    assert "&gt; 3000" in all_text(blocks)
    assert views.final_status("x", "SUCCEEDED", "")[0] == "✅ Run x succeeded"


def test_long_names_are_clipped_to_slack_limits() -> None:
    long = replace(APPROVAL, model="m" * 500)
    _, blocks = views.approval_card(long, EVALUATION, SMOKE)
    (header,) = blocks_of("header", blocks)
    assert len(header["text"]["text"]) <= 150


def test_model_version_url() -> None:
    assert (
        views.model_version_url("http://127.0.0.1:5000/", "my model", "3")
        == "http://127.0.0.1:5000/#/models/my%20model/versions/3"
    )


def test_card_shows_the_resolved_author_and_the_git_email_as_unverified() -> None:
    resolved = replace(
        APPROVAL,
        author="arn:aws:iam::111111111111:user/dana",
        author_slack_id="U0DANA",
        author_via="IDENTITY_MAP entry `arn:aws:iam::111111111111:user/dana`",
        git_author="<!channel>@example.com",
    )
    _, blocks = views.approval_card(resolved, EVALUATION, SMOKE)
    rendered = all_text(blocks)
    assert "*Author*\\n<@U0DANA>" in rendered
    assert "Pushed by `arn:aws:iam::111111111111:user/dana`" in rendered
    assert "git author (unverified): &lt;!channel&gt;@example.com" in rendered
    assert "*Approvals* 0 of 1: none yet" in rendered
    assert "could not be identified" not in rendered


def test_card_of_an_unresolved_author_asks_for_two_approvers_and_counts_live() -> None:
    unresolved = replace(
        APPROVAL,
        author="arn:aws:iam::111111111111:user/unknown",
        author_via="not in IDENTITY_MAP",
        required_approvals=2,
        decisions=(Decision("U0FIRST", "approve", NOW),),
    )
    _, blocks = views.approval_card(unresolved, EVALUATION, SMOKE)
    rendered = all_text(blocks)
    assert "not resolved" in rendered and "not in IDENTITY_MAP" in rendered
    assert "could not be identified" in rendered and "two different approvers" in rendered
    assert "*Approvals* 1 of 2: <@U0FIRST>" in rendered
    assert blocks_of("actions", blocks)  # still open


def test_decided_card_lists_every_approver_and_click() -> None:
    clicks = (
        Decision("U0FIRST", "approve", NOW),
        Decision("U0SECOND", "approve", NOW + timedelta(minutes=5)),
    )
    quorum = replace(APPROVAL, required_approvals=2, decisions=clicks).with_status(
        ApprovalStatus.APPROVED, "U0SECOND", NOW + timedelta(minutes=5)
    )
    text, blocks = views.decided_card(quorum)
    assert "Approved by <@U0FIRST>, <@U0SECOND> at 2026-11-26 12:05 UTC" in text
    assert "Decisions: <@U0FIRST> approve 2026-11-26 12:00 UTC; <@U0SECOND> approve" in all_text(blocks)


def test_cancelled_and_ended_cards_say_why() -> None:
    cancelled = replace(
        APPROVAL.with_status(ApprovalStatus.CANCELLED, None, NOW),
        reason="the run no longer waits for a decision (TaskTimedOut) <b>",
    )
    text, blocks = views.decided_card(cancelled)
    assert text.endswith(
        "🚫 Cancelled at 2026-11-26 12:00 UTC: the run no longer waits for a decision (TaskTimedOut) &lt;b&gt;"
    )
    assert not blocks_of("actions", blocks)
    superseded = replace(
        APPROVAL.with_status(ApprovalStatus.SUPERSEDED, None, NOW), reason="commit abc pushed later"
    )
    assert "Superseded by a newer run: commit abc pushed later" in views.decided_card(superseded)[0]
    assert views.STATUS_EMOJI["CANCELLED"] == "🚫"


def test_run_header_calls_the_trigger_principal_the_pusher() -> None:
    run = RunRecord(execution=APPROVAL.execution, author="arn:aws:iam::111111111111:user/dana")
    text, blocks = views.run_header(run)
    assert "pushed by arn:aws:iam::111111111111:user/dana" in text
    assert "*Pushed by*" in all_text(blocks) and "*Author*" not in all_text(blocks)
