"""RollbackStarter on AWS Lambda: start a function asynchronously (``InvocationType=Event``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class AsyncLambdaStarter:
    """RollbackStarter: ``lambda:InvokeFunction`` with InvocationType=Event (Lambda queues it and
    retries it; the rollback is idempotent on its record)."""

    def __init__(self, function: str, client: Any | None = None) -> None:
        self.function = function
        self._client = client

    def start(self, payload: Mapping[str, Any]) -> None:
        import boto3

        client = self._client or boto3.client("lambda")
        client.invoke(FunctionName=self.function, InvocationType="Event", Payload=json.dumps(dict(payload)))
