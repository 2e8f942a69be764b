"""In-memory fakes of the git webhook's ports (DeliveryStore, PipelineStarter), as ``tests/fakes.py``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_pipeline.domain.errors import PipelineStartError
from mlops_pipeline.domain.webhook import Delivery, Started

if TYPE_CHECKING:
    from mlops_pipeline.ports import DeliveryStore, PipelineStarter

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:111111111111:stateMachine:mlops-pipeline"


def _aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value!r} has no timezone; pass an aware UTC datetime")


class FakeDeliveryStore:
    """DeliveryStore: the first claim of a key wins; ``expires`` keeps each record's expiry."""

    def __init__(self) -> None:
        self.records: dict[str, Delivery] = {}
        self.expires: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, delivery_id: str, received_at: datetime, expires_at: datetime) -> Delivery:
        _aware(received_at, expires_at)
        with self._lock:
            if key not in self.records:
                self.records[key] = Delivery(key, delivery_id, received_at)
                self.expires[key] = expires_at
            return self.records[key]

    def mark_started(self, key: str, execution: str) -> None:
        with self._lock:
            old = self.records[key]
            self.records[key] = Delivery(old.key, old.delivery_id, old.received_at, execution)


class FakeStarter:
    """PipelineStarter: one execution per name, as Step Functions (the same name and input while it
    runs answers idempotently; ``ended`` names ended ones); ``fail`` makes the next call fail."""

    def __init__(self, state_machine_arn: str = STATE_MACHINE_ARN) -> None:
        self.state_machine_arn = state_machine_arn
        self.executions: dict[str, dict[str, Any]] = {}  # name -> input
        self.calls = 0
        self.ended: set[str] = set()
        self.fail = False
        self._lock = threading.Lock()

    def arn(self, name: str) -> str:
        prefix, _, machine = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, execution_input: Mapping[str, Any]) -> Started:
        with self._lock:
            self.calls += 1
            if self.fail:
                self.fail = False
                raise PipelineStartError(f"StartExecution {name} failed: ServiceUnavailable")
            if name in self.executions:
                running_same = name not in self.ended and self.executions[name] == dict(execution_input)
                return Started(self.arn(name), new=running_same)
            self.executions[name] = dict(execution_input)
            return Started(self.arn(name), new=True)


if TYPE_CHECKING:  # mypy checks each fake against its port
    _deliveries: DeliveryStore = FakeDeliveryStore()
    _starter: PipelineStarter = FakeStarter()
