"""A chat workspace that refuses posts for a while, as Slack does when it answers 500."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlops_pipeline.domain.errors import ChatError
from mlops_pipeline.domain.models import MessageRef
from tests.fakes import FakeNotifier


class ChatOutage(FakeNotifier):
    """``post`` raises ChatError while ``down``, or for the next ``failures`` calls; the other
    methods keep working (an outage of chat.postMessage only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down = False
        self.failures = 0
        self.refused = 0

    def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> MessageRef:
        if self.down or self.failures > 0:
            self.failures = max(0, self.failures - 1)
            self.refused += 1
            raise ChatError("chat chat.postMessage failed: http_500", "http_500")
        return super().post(channel, text, blocks=blocks, thread_ts=thread_ts)

    def texts(self, root_ts: str) -> list[str]:
        """The thread's replies (root excluded), in posting order."""
        return [m["text"] for m in self.thread(root_ts)[1:]]
