"""``request_rollback``: what the CLI sends (the STS caller, never an option) and how it reads the answer."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from mlops_pipeline.cli.rollback_cmd import request_rollback

CALLER = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_abc/ops@example.com"


class Sts:
    def get_caller_identity(self) -> dict[str, str]:
        return {"Arn": CALLER, "Account": "111111111111", "UserId": "AROA:ops"}


class Lambda:
    def __init__(self, body: Any, error: str | None = None) -> None:
        self.body, self.error = body, error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.body).encode())}
        if self.error:
            answer["FunctionError"] = self.error
        return answer


def test_the_request_names_the_sts_caller_and_waits_for_the_answer() -> None:
    client = Lambda({"accepted": True, "message": "prod live back to Lambda v2", "status": "DONE"})
    answer = request_rollback(client, Sts(), "mlops-rollback-prod", "ships", "5", "p99")
    assert answer.accepted and answer.caller == CALLER and "v2" in answer.message
    [call] = client.calls
    assert (call["FunctionName"], call["InvocationType"]) == ("mlops-rollback-prod", "RequestResponse")
    assert json.loads(call["Payload"]) == {
        "mode": "manual",
        "environment": "prod",
        "model": "ships",
        "principal": CALLER,
        "reason": "p99",
        "to_version": "5",
    }


def test_a_refusal_is_an_answer_and_a_function_error_an_exception() -> None:
    refused = request_rollback(Lambda({"accepted": False, "message": "Refused: x"}), Sts(), "f", "ships")
    assert not refused.accepted and refused.message == "Refused: x"
    failing = Lambda({"errorType": "ConfigError", "errorMessage": "DEPLOY_TARGETS is not set"}, "Unhandled")
    with pytest.raises(RuntimeError, match="ConfigError: DEPLOY_TARGETS is not set"):
        request_rollback(failing, Sts(), "f", "ships")
