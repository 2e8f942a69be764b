"""Bounded retries for the calls that follow a decision: the task callback and the card update.

A decision is first a conditional write; what it tells Step Functions and Slack afterwards
can fail on its own (throttling, a dropped connection). Those calls are retried a few times
with exponential backoff, short enough to stay inside Slack's three-second answer window.
A gone task (TaskGoneError) is an answer, not a failure: it is never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from mlops_pipeline.domain.errors import TaskGoneError

LOG = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """``attempts`` tries, waiting ``base_delay * 2**n`` seconds between them."""

    attempts: int = 3
    base_delay: float = 0.2
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a Retry needs at least one attempt")

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``; retried on any Exception except TaskGoneError; the last failure propagates."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TaskGoneError:
                raise
            except Exception as exc:
                if attempt == self.attempts:
                    raise
                LOG.warning("%s failed (attempt %d of %d): %s", what, attempt, self.attempts, exc)
                self.sleep(self.base_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def best_effort(self, what: str, fn: Callable[[], object]) -> bool:
        """``call`` that logs and swallows the final failure (a gone task included); False then."""
        try:
            self.call(what, fn)
        except Exception as exc:
            LOG.warning("%s failed for good: %s", what, exc)
            return False
        return True
