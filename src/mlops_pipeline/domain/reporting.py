"""One Slack thread per execution, and the run record behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlops_pipeline.domain.models import MessageRef, RunRecord, StepStatus
from mlops_pipeline.ports import ChatNotifier, Clock, RunStore

# (text, blocks) builders; the Slack adapter provides them, tests may pass simpler ones.
HeaderView = Callable[[RunRecord], tuple[str, Sequence[Mapping[str, Any]]]]
ProgressView = Callable[[str, str, str], tuple[str, Sequence[Mapping[str, Any]]]]

FINAL_STATUSES = {"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED", "SUPERSEDED", "ABORTED", "TIMED_OUT"}


def _plain_header(run: RunRecord) -> tuple[str, Sequence[Mapping[str, Any]]]:
    return (f"Pipeline run for {run.commit[:8]} on {run.repository}/{run.branch} by {run.author}", [])


def _plain_progress(step: str, status: str, detail: str) -> tuple[str, Sequence[Mapping[str, Any]]]:
    return (f"{step}: {status}" + (f" - {detail}" if detail else ""), [])


class Reporter:
    """Posts progress into the execution's thread and records each step."""

    def __init__(
        self,
        runs: RunStore,
        notifier: ChatNotifier,
        clock: Clock,
        channel: str,
        header_view: HeaderView = _plain_header,
        progress_view: ProgressView = _plain_progress,
    ) -> None:
        self.runs = runs
        self.notifier = notifier
        self.clock = clock
        self.channel = channel
        self.header_view = header_view
        self.progress_view = progress_view

    def thread(self, execution: str, trigger: Mapping[str, Any] | None = None) -> MessageRef:
        """The execution's thread, created (record + root message) on first use."""
        trigger = trigger or {}
        run = self.runs.create_if_absent(
            RunRecord(
                execution=execution,
                commit=str(trigger.get("commit", "")),
                repository=str(trigger.get("repository", "")),
                branch=str(trigger.get("branch", "")),
                author=str(trigger.get("author", "")),
                started_at=self.clock.now(),
                slack_channel=self.channel,
            )
        )
        if run.slack_thread_ts and run.slack_channel:
            return MessageRef(run.slack_channel, run.slack_thread_ts)
        text, blocks = self.header_view(run)
        ref = self.notifier.post(self.channel, text, blocks=blocks or None)
        if not self.runs.set_thread(execution, ref):
            # Another step created the thread first: use theirs.
            stored = self.runs.get(execution)
            if stored and stored.slack_thread_ts and stored.slack_channel:
                return MessageRef(stored.slack_channel, stored.slack_thread_ts)
        return ref

    def step(
        self,
        execution: str,
        step: str,
        status: str,
        detail: str = "",
        trigger: Mapping[str, Any] | None = None,
    ) -> MessageRef:
        """Record a step's status and post it into the thread."""
        thread = self.thread(execution, trigger)
        self.runs.record_step(
            execution, StepStatus(step=step, status=status, at=self.clock.now(), detail=detail)
        )
        if status in FINAL_STATUSES and (step == "Pipeline" or status != "SUCCEEDED"):
            self.runs.update(execution, status=status)
        text, blocks = self.progress_view(step, status, detail)
        return self.notifier.post(thread.channel, text, blocks=blocks or None, thread_ts=thread.ts)
