"""One Slack thread per execution, and the run record behind it.

Reporting never changes an outcome. Each step is recorded in the run store first; the thread
is brought up to date from there, the recorded steps not posted yet being its outbox
(``RunRecord.pending``): the root message (posted late if its first post failed), then every
pending step, oldest first. Each post is tried a few times, quickly (a Lambda must not hang on
a chat outage); what still fails waits in the record for the run's next report or the final
notify. No public method raises: a failure of the chat service or of the run store is logged
and the caller carries on with what it was doing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from mlops_pipeline.domain.delivery import Retry
from mlops_pipeline.domain.models import MessageRef, RunRecord, StepLog, StepStatus
from mlops_pipeline.ports import ChatNotifier, Clock, RunStore

LOG = logging.getLogger(__name__)

# (text, blocks) builders; the Slack adapter provides them, tests may pass simpler ones.
HeaderView = Callable[[RunRecord], tuple[str, Sequence[Mapping[str, Any]]]]


class ProgressView(Protocol):
    def __call__(
        self, step: str, status: str, detail: str, log: StepLog | None = None
    ) -> tuple[str, Sequence[Mapping[str, Any]]]: ...


FINAL_STATUSES = {"SUCCEEDED", "FAILED", "REJECTED", "EXPIRED", "SUPERSEDED", "ABORTED", "TIMED_OUT"}
POST_ATTEMPTS = 2  # per message and report; the rest is deferred to the run's next report
POST_PAUSE_SECONDS = 0.2  # before the second attempt


def _plain_header(run: RunRecord) -> tuple[str, Sequence[Mapping[str, Any]]]:
    return (f"Pipeline run for {run.commit[:8]} on {run.repository}/{run.branch} by {run.author}", [])


def _plain_progress(
    step: str, status: str, detail: str, log: StepLog | None = None
) -> tuple[str, Sequence[Mapping[str, Any]]]:
    text = f"{step}: {status}" + (f" - {detail}" if detail else "")
    if log is not None:
        text += "".join(f"\n{line}" for line in log.lines) + (f"\n{log.error}" if log.error else "")
        text += f"\nfull log: {log.location}" if log.location else ""
    return (text, [])


class Reporter:
    """Records each step of a run, then posts what its thread lacks (best effort, in order)."""

    def __init__(
        self,
        runs: RunStore,
        notifier: ChatNotifier,
        clock: Clock,
        channel: str,
        header_view: HeaderView = _plain_header,
        progress_view: ProgressView = _plain_progress,
        retry: Retry | None = None,
    ) -> None:
        self.runs = runs
        self.notifier = notifier
        self.clock = clock
        self.channel = channel
        self.header_view = header_view
        self.progress_view = progress_view
        self.retry = retry or Retry(POST_ATTEMPTS, POST_PAUSE_SECONDS)

    def thread(self, execution: str, trigger: Mapping[str, Any] | None = None) -> MessageRef | None:
        """The execution's thread, caught up (record and root created on first use); None while
        the chat service cannot be reached (or the run store fails)."""
        try:
            self._open(execution, trigger)
            self.catch_up(execution)  # never raises
            return _thread_of(self.runs.get(execution))
        except Exception:
            LOG.exception("could not create or read the run record of %s", execution)
            return None

    def step(
        self,
        execution: str,
        step: str,
        status: str,
        detail: str = "",
        trigger: Mapping[str, Any] | None = None,
        log: StepLog | None = None,
    ) -> bool:
        """Record a step's status (with a failed build's ``log``), then catch the thread up; True
        when the thread shows every recorded step (False: the rest waits for a later report)."""
        try:
            self._open(execution, trigger)
            self.runs.record_step(
                execution,
                StepStatus(step=step, status=status, at=self.clock.now(), detail=detail, log=log),
            )
            if status in FINAL_STATUSES and (step == "Pipeline" or status != "SUCCEEDED"):
                self.runs.update(execution, status=status)
        except Exception:
            LOG.exception("could not record %s %s of %s", step, status, execution)
            return False
        return self.catch_up(execution)

    def catch_up(self, execution: str) -> bool:
        """Post the thread's root if it is missing, then every pending step in order, each
        marked posted as soon as it is in; stop at the first post that fails. True when
        nothing recorded waits any more."""
        try:
            run = self.runs.get(execution)
            if run is None:
                return True  # nothing recorded, nothing owed
            root = self._root(run)
            if root is None:
                return False
            for index in range(run.posted, len(run.steps)):
                done = run.steps[index]
                text, blocks = self.progress_view(done.step, done.status, done.detail, done.log)
                if self._post(root.channel, text, blocks, root.ts) is None:
                    return False
                if not self.runs.mark_posted(execution, index, index + 1):
                    LOG.info("another report is catching up the thread of %s", execution)
                    return False
            return True
        except Exception:
            LOG.exception("could not catch up the thread of %s", execution)
            return False

    # -- internals --------------------------------------------------------------------------
    def _open(self, execution: str, trigger: Mapping[str, Any] | None) -> None:
        trigger = trigger or {}
        self.runs.create_if_absent(
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

    def _root(self, run: RunRecord) -> MessageRef | None:
        existing = _thread_of(run)
        if existing is not None:
            return existing
        text, blocks = self.header_view(run)
        ref = self._post(self.channel, text, blocks, None)
        if ref is None or self.runs.set_thread(run.execution, ref):
            return ref
        # Another report posted a root first: the thread is theirs (ours stays an orphan).
        return _thread_of(self.runs.get(run.execution))

    def _post(
        self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None
    ) -> MessageRef | None:
        try:
            return self.retry.call(
                "posting to the run's thread",
                lambda: self.notifier.post(channel, text, blocks=blocks or None, thread_ts=thread_ts),
            )
        except Exception as exc:
            LOG.warning("left for a later report: %s", exc)
            return None


def _thread_of(run: RunRecord | None) -> MessageRef | None:
    if run is None or not run.slack_thread_ts or not run.slack_channel:
        return None
    return MessageRef(run.slack_channel, run.slack_thread_ts)
