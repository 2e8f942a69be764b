"""Block Kit views of the pipeline: pure functions returning ``(text, blocks)``.

``text`` is the notification/fallback text; ``blocks`` are plain dicts built with
``slack_sdk.models.blocks``. Every piece of user-provided text (model names, authors,
commit messages, error causes) goes through :func:`escape` so it cannot inject
mentions (``<!channel>``) or links into the message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from mlops_pipeline.adapters.slack.ids import APPROVAL_ACTIONS_BLOCK_ID, APPROVE_ACTION_ID, REJECT_ACTION_ID
from mlops_pipeline.adapters.slack.interactions import ROLLBACK_ACTION_ID
from mlops_pipeline.domain.evaluation import serving_summary
from mlops_pipeline.domain.models import Approval, ApprovalStatus, RunRecord, StepLog

View = tuple[str, list[dict[str, Any]]]


STATUS_EMOJI: dict[str, str] = {
    "STARTED": "⏳",
    "RUNNING": "⏳",
    "SUCCEEDED": "✅",
    "FAILED": "❌",
    "REJECTED": "⛔",
    "EXPIRED": "⌛",
    "SUPERSEDED": "⏭️",
    "SKIPPED": "⏭️",
    "TIMED_OUT": "⌛",
    "ABORTED": "🛑",
    "APPROVED": "✅",
    "CANCELLED": "🚫",
    "REFUSED": "🚫",  # a rollback by hand that prod's state refused (nothing moved)
    "ERROR": "❌",  # a rollback by hand that failed (not the run's outcome: the run succeeded)
}

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_HEADER_MAX = 150  # Slack's limit for header text
_SECTION_MAX = 3000  # Slack's limit for a section's text
_SERVING_MAX = 500  # a fallback reason can be an exporter's whole message
_FIELD_MAX = 2000
_CONFIRM_MAX = 300  # a confirm dialog's text
_LOG_MAX = 2500  # a failed build's log lines: bounded, inside one section


def escape(text: object) -> str:
    """Escape text for Slack mrkdwn: ``&``, ``<`` and ``>`` are the control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_sha(commit: str) -> str:
    return commit[:7] if commit else "?"


def format_time(at: datetime | None) -> str:
    """``2026-11-26 05:17 UTC``; naive datetimes are taken as UTC."""
    if at is None:
        return "?"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def mention(user: str | None) -> str:
    """``<@U123>`` for a Slack user id, the escaped text otherwise."""
    if not user:
        return "someone"
    return f"<@{user}>" if _USER_ID.match(user) else escape(user)


def model_version_url(mlflow_ui_url: str, model: str, version: str) -> str:
    """Link to a model version in the MLflow UI."""
    return f"{mlflow_ui_url.rstrip('/')}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"


def execution_name(execution: str) -> str:
    """The last part of an execution ARN (its name), or the input unchanged."""
    return execution.rsplit(":", 1)[-1] if execution else "?"


def _link(url: str | None, label: str) -> str:
    if not url:
        return ""
    # A URL cannot contain '|' or '>' inside Slack's <url|label> syntax; refuse odd ones.
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>| \n"):
        return ""
    return f"<{url}|{escape(label)}>"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def format_delta(candidate: object, champion: object, direction: str | None = "lower") -> str:
    """``+0.012 (+2.4 %, worse)``: candidate minus champion; the verdict needs a direction."""
    cand, champ = _number(candidate), _number(champion)
    if cand is None or champ is None:
        return "n/a"
    delta = cand - champ
    sign = "+" if delta > 0 else ("-" if delta < 0 else "±")
    notes: list[str] = []
    if champ != 0:
        notes.append(f"{sign}{abs(delta) / abs(champ) * 100:.1f} %")
    if direction in ("lower", "higher"):
        if delta == 0:
            notes.append("same")
        elif (delta < 0) == (direction == "lower"):
            notes.append("better")
        else:
            notes.append("worse")
    text = f"{sign}{abs(delta):.4g}"
    return f"{text} ({', '.join(notes)})" if notes else text


def _md(text: str, limit: int = _SECTION_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(text, limit))


def _dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def _identity_fields(approval: Approval) -> list[MarkdownTextObject]:
    author = mention(approval.author_slack_id) if approval.author_resolved else "⚠️ not resolved (see below)"
    return [
        _md(f"*Model*\n{escape(approval.model)}", _FIELD_MAX),
        _md(f"*Version*\n{escape(approval.version)}", _FIELD_MAX),
        _md(f"*Commit*\n`{escape(short_sha(approval.commit))}`", _FIELD_MAX),
        _md(f"*Author*\n{author}", _FIELD_MAX),
    ]


def _provenance(approval: Approval) -> Block:
    """Who pushed (the trigger's principal), how that became the author, and the git email as claimed."""
    parts = [f"Pushed by `{escape(approval.author or '?')}`"]
    if approval.author_via:
        parts.append(
            f"author from {escape(approval.author_via)}"
            if approval.author_resolved
            else escape(approval.author_via)
        )
    parts.append(f"git author (unverified): {escape(approval.git_author or '?')}")
    return ContextBlock(elements=[_md(" · ".join(parts))])


def quorum_line(approval: Approval) -> str:
    """``*Approvals* 1 of 2: <@U1>``, and why two when the author is unknown."""
    approvers = ", ".join(mention(u) for u in approval.approvers) or "none yet"
    line = f"*Approvals* {len(approval.approvers)} of {approval.required_approvals}: {approvers}"
    if not approval.author_resolved:
        line += (
            "\n⚠️ *The author could not be identified* from the push, so nobody can tell whether an "
            "approver is approving their own model: two different approvers must approve."
        )
    return line


def _evaluation_blocks(evaluation: Mapping[str, Any]) -> list[Block]:
    metric = str(evaluation.get("metric") or "?")
    direction = str(evaluation.get("direction") or "lower")
    tolerance = _number(evaluation.get("tolerance"))
    candidate = evaluation.get("candidate")
    champion = evaluation.get("champion")
    champion_version = evaluation.get("champion_version")
    passed = bool(evaluation.get("passed"))
    reason = str(evaluation.get("reason") or "")

    tol = f", tolerance {tolerance * 100:.3g} %" if tolerance else ""
    lines = [f"*Gate metric* `{escape(metric)}` ({escape(direction)} is better{tol})"]
    if _number(champion) is None:
        lines.append(f"candidate *{_fmt(_number(candidate))}*, no champion yet (first model)")
    else:
        lines.append(
            f"candidate *{_fmt(_number(candidate))}* vs champion v{escape(champion_version or '?')} "
            f"*{_fmt(_number(champion))}*: Δ {format_delta(candidate, champion, direction)}"
        )
    lines.append(
        f"{'✅ gate passed' if passed else '❌ gate failed'}" + (f": {escape(reason)}" if reason else "")
    )
    serving = serving_summary(evaluation.get("serving_flavor"), evaluation.get("serving_fallback_reason"))
    if serving:  # the approver sees a slower skops fallback, and why, before prod gets it
        lines.append(f"*Serving* {escape(_clip(serving, _SERVING_MAX))}")
    blocks: list[Block] = [SectionBlock(text=_md("\n".join(lines)))]

    metrics = evaluation.get("metrics") or {}
    champion_metrics = evaluation.get("champion_metrics") or {}
    if isinstance(metrics, Mapping) and metrics:
        fields: list[MarkdownTextObject] = []
        for name in sorted(metrics)[:10]:  # a section holds at most 10 fields
            value = metrics[name]
            line = f"*{escape(name)}*\n{_fmt(_number(value))}"
            if isinstance(champion_metrics, Mapping) and name in champion_metrics:
                # Direction is known only for the gate metric; others show the raw delta.
                delta = format_delta(value, champion_metrics[name], direction if name == metric else None)
                line += f" (champion {_fmt(_number(champion_metrics[name]))}, Δ {delta})"
            fields.append(_md(line, _FIELD_MAX))
        blocks.append(SectionBlock(fields=fields))
    return blocks


def _smoke_line(smoke: Mapping[str, Any] | None) -> str:
    if not smoke:
        return "*Stage smoke test*: not run"
    latency = _number(smoke.get("latency_ms"))
    rows = smoke.get("rows")
    ok = smoke.get("passed", True)
    verdict = "✅ passed" if ok else "❌ failed"
    parts = [f"*Stage smoke test*: {verdict}"]
    if latency is not None:
        parts.append(f"{latency:.0f} ms")
    if rows is not None:
        parts.append(f"{escape(rows)} rows")
    if smoke.get("executed_version"):
        parts.append(f"Lambda version {escape(smoke['executed_version'])}")
    return ", ".join(parts)


def approval_card(
    approval: Approval,
    evaluation: Mapping[str, Any],
    smoke: Mapping[str, Any] | None,
    mlflow_url: str | None = None,
) -> View:
    """The approval request: identity, metrics vs the champion, smoke result, expiry, buttons.

    Both buttons carry only the approval id as ``value``; everything else is looked up
    server-side when the click comes back.
    """
    model, version = approval.model, approval.version
    text = (
        f"Approval needed: {escape(model)} v{escape(version)} (commit {escape(short_sha(approval.commit))})"
    )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"Approve {model} v{version} for prod?", _HEADER_MAX))),
        SectionBlock(fields=_identity_fields(approval)),
        _provenance(approval),
        *_evaluation_blocks(evaluation),
        SectionBlock(text=_md(_smoke_line(smoke))),
        SectionBlock(text=_md(quorum_line(approval))),
    ]
    context = [f"Expires {format_time(approval.expires_at)}", f"approval `{escape(approval.id)}`"]
    link = _link(mlflow_url, "MLflow")
    if link:
        context.append(link)
    blocks.append(ContextBlock(elements=[_md(" · ".join(context))]))
    target = f"{escape(model)} v{escape(version)}"
    blocks.append(
        ActionsBlock(
            block_id=APPROVAL_ACTIONS_BLOCK_ID,
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Approve", emoji=True),
                    action_id=APPROVE_ACTION_ID,
                    value=approval.id,
                    style="primary",
                    confirm=ConfirmObject(
                        title="Deploy to prod?",
                        text=_md(f"Approve {target} and deploy it to *prod*?", _CONFIRM_MAX),
                        confirm="Approve",
                        deny="Cancel",
                    ),
                ),
                ButtonElement(
                    text=PlainTextObject(text="Reject", emoji=True),
                    action_id=REJECT_ACTION_ID,
                    value=approval.id,
                    style="danger",
                    confirm=ConfirmObject(
                        title="Reject this model?",
                        text=_md(f"Reject {target}? The run stops and nothing reaches prod.", _CONFIRM_MAX),
                        confirm="Reject",
                        deny="Cancel",
                        style="danger",
                    ),
                ),
            ],
        )
    )
    return text, _dicts(blocks)


def decision_line(approval: Approval) -> str:
    """``✅ Approved by <@U…> at …`` and friends; ValueError for a pending approval."""
    at = format_time(approval.decided_at)
    status = approval.status
    why = f": {escape(approval.reason)}" if approval.reason else ""
    if status is ApprovalStatus.APPROVED:
        who = ", ".join(mention(u) for u in approval.approvers) or mention(approval.decided_by)
        return f"✅ Approved by {who} at {at}"
    if status is ApprovalStatus.REJECTED:
        return f"⛔ Rejected by {mention(approval.decided_by)} at {at}"
    if status is ApprovalStatus.EXPIRED:
        return f"⌛ Expired at {at}{why}"
    if status is ApprovalStatus.SUPERSEDED:
        return f"⏭️ Superseded by a newer run{why}"
    if status is ApprovalStatus.CANCELLED:
        return f"🚫 Cancelled at {at}{why}"
    raise ValueError(
        f"approval {approval.id} is still {status.value}; only decided approvals have a decision"
    )


def decided_card(approval: Approval) -> View:
    """The approval card after the decision: same facts, buttons removed, who/when.

    Metrics and the smoke result are re-rendered from ``approval.details`` when it holds
    ``{"evaluation": ..., "smoke": ..., "mlflow_url": ...}`` (as stored by request_approval).
    """
    line = decision_line(approval)
    model, version = approval.model, approval.version
    text = f"{escape(model)} v{escape(version)}: {line}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"{model} v{version}", _HEADER_MAX))),
        SectionBlock(fields=_identity_fields(approval)),
        _provenance(approval),
    ]
    details = approval.details or {}
    evaluation = details.get("evaluation")
    if isinstance(evaluation, Mapping) and evaluation:
        blocks.extend(_evaluation_blocks(evaluation))
    smoke = details.get("smoke")
    if isinstance(smoke, Mapping) and smoke:
        blocks.append(SectionBlock(text=_md(_smoke_line(smoke))))
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(text=_md(line)))
    if approval.decisions:
        clicks = "; ".join(
            f"{mention(d.user)} {escape(d.action)} {format_time(d.at)}" for d in approval.decisions
        )
        blocks.append(ContextBlock(elements=[_md(f"Decisions: {clicks}")]))
    context = [f"approval `{escape(approval.id)}`"]
    link = _link(details.get("mlflow_url") if isinstance(details.get("mlflow_url"), str) else None, "MLflow")
    if link:
        context.append(link)
    blocks.append(ContextBlock(elements=[_md(" · ".join(context))]))
    return text, _dicts(blocks)


def run_header(run: RunRecord, mlflow_url: str | None = None) -> View:
    """Root message of a run's thread: commit, repository, branch, author."""
    commit = short_sha(run.commit)
    text = (
        f"Pipeline run for {escape(run.repository or '?')}@{escape(run.branch or '?')} "
        f"commit {escape(commit)} pushed by {escape(run.author or '?')}"
    )
    fields = [
        _md(f"*Repository*\n{escape(run.repository or '?')}", _FIELD_MAX),
        _md(f"*Branch*\n{escape(run.branch or '?')}", _FIELD_MAX),
        _md(f"*Commit*\n`{escape(commit)}`", _FIELD_MAX),
        _md(f"*Pushed by*\n{escape(run.author or '?')}", _FIELD_MAX),
    ]
    if run.model:
        label = f"{run.model} v{run.version}" if run.version else run.model
        fields.append(_md(f"*Model*\n{escape(label)}", _FIELD_MAX))
    context = [f"execution `{escape(execution_name(run.execution))}`"]
    if run.started_at is not None:
        context.append(f"started {format_time(run.started_at)}")
    link = _link(mlflow_url, "MLflow")
    if link:
        context.append(link)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"🚀 Pipeline run {commit}", _HEADER_MAX))),
        SectionBlock(fields=fields),
        ContextBlock(elements=[_md(" · ".join(context))]),
    ]
    return text, _dicts(blocks)


def progress(step: str, status: str, detail: str = "", log: StepLog | None = None) -> View:
    """One line per step: emoji, step, status and an optional detail; for a failed build also
    its log's last lines (a code block) and where the whole log is."""
    status_key = status.upper()
    emoji = STATUS_EMOJI.get(status_key, "❔")
    line = f"{emoji} *{escape(step)}* {escape(status_key.lower().replace('_', ' '))}"
    if detail:
        line += f": {escape(detail)}"
    plain = f"{emoji} {escape(step)} {escape(status_key.lower())}" + (f": {escape(detail)}" if detail else "")
    blocks: list[Block] = [SectionBlock(text=_md(line))]
    if log is not None:
        code = _code_block(log.lines)
        where = _log_location(log.location)
        if code:
            blocks.append(SectionBlock(text=_md(f"Last lines of the log:\n{code}")))
        if log.error:
            blocks.append(SectionBlock(text=_md(f"⚠️ {escape(log.error)}")))
        if where:
            blocks.append(ContextBlock(elements=[_md(f"Full log: {where}")]))
        plain += (f"\n{code}" if code else "") + (f"\n{escape(log.error)}" if log.error else "")
        plain += f"\nFull log: {where}" if where else ""
    return _clip(plain, _SECTION_MAX), _dicts(blocks)


def _code_block(lines: Sequence[str], limit: int = _LOG_MAX) -> str:
    """The lines as a mrkdwn code block of at most ``limit`` characters, keeping the last lines."""
    # A line's own ``` would close the block early (a zero-width space breaks it up); mrkdwn's
    # control characters stay escaped.
    cleaned = [escape(line).replace("```", "`\u200b``") for line in lines]
    while cleaned and sum(len(c) + 1 for c in cleaned) + 8 > limit:
        cleaned.pop(0)
    return f"```\n{chr(10).join(cleaned)}\n```" if cleaned else ""


def _log_location(location: str) -> str:
    """A link to the CloudWatch console, or the local log file's path as code."""
    return _link(location, "CloudWatch Logs") or (f"`{escape(location)}`" if location else "")


def final_status(execution: str, status: str, detail: str = "") -> View:
    """Closing message of a run: the execution's final status (SUCCEEDED, FAILED, ...)."""
    status_key = status.upper()
    emoji = STATUS_EMOJI.get(status_key, "❔")
    name = execution_name(execution)
    line = f"{emoji} Run `{escape(name)}` *{escape(status_key.lower().replace('_', ' '))}*"
    if detail:
        line += f"\n{escape(detail)}"
    text = f"{emoji} Run {escape(name)} {escape(status_key.lower())}" + (
        f": {escape(detail)}" if detail else ""
    )
    return _clip(text, 3000), _dicts([SectionBlock(text=_md(line))])


ROLLBACK_ACTIONS_BLOCK_ID = "rollback_actions"


def success_with_rollback(
    step: str,
    status: str,
    detail: str,
    log: StepLog | None,
    rollback_id: str,
    model: str,
    version: str,
    previous: str,
) -> View:
    """The run's final success line with a "Roll back prod" button (approvers only; a confirm
    dialog first). The button carries only the rollback's id; the offer record says the rest."""
    text, blocks = progress(step, status, detail, log)
    button = ButtonElement(
        text=PlainTextObject(text="Roll back prod"),
        action_id=ROLLBACK_ACTION_ID,
        value=rollback_id,
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Roll back prod?"),
            text=_md(
                _clip(
                    f"Move prod back from {escape(model)} v{escape(version)} to v{escape(previous)}, "
                    "restore the registry alias `production`, and record that you did it.",
                    _CONFIRM_MAX,
                )
            ),
            confirm=PlainTextObject(text="Roll back"),
            deny=PlainTextObject(text="Cancel"),
            style="danger",
        ),
    )
    extra: list[Block] = [ActionsBlock(block_id=ROLLBACK_ACTIONS_BLOCK_ID, elements=[button])]
    return text, [*blocks, *_dicts(extra)]
