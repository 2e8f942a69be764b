"""``request_rollback``: what the CLI sends (an identity proof, never a principal) and how it reads the answer."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.credentials import Credentials

from mlops_pipeline.cli.rollback_cmd import function_name_of, request_rollback
from mlops_pipeline.domain.prod_rollback import proof_headers

CALLER = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_abc/ops@example.com"


class Sts:
    meta = SimpleNamespace(endpoint_url="https://sts.eu-west-1.amazonaws.com", region_name="eu-west-1")

    def get_caller_identity(self) -> dict[str, str]:
        return {"Arn": CALLER, "Account": "111111111111", "UserId": "AROA:ops"}


class Lambda:
    meta = SimpleNamespace(region_name="eu-west-1")

    def __init__(self, body: Any, error: str | None = None) -> None:
        self.body, self.error = body, error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.body).encode())}
        if self.error:
            answer["FunctionError"] = self.error
        return answer


class Session:
    def __init__(self, function: Lambda) -> None:
        self.function = function

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.function if service == "lambda" else Sts()

    def get_credentials(self) -> Credentials:
        return Credentials("AKIAEXAMPLE", "secret", "session-token")


def test_the_request_carries_a_signed_proof_for_this_function() -> None:
    client = Lambda({"accepted": True, "message": "prod live back to Lambda v2", "status": "DONE"})
    function = "arn:aws:lambda:eu-west-1:111111111111:function:mlops-rollback-prod"
    answer = request_rollback(Session(client), function, "ships", "5", "p99")
    assert answer.accepted and answer.caller == CALLER and "v2" in answer.message
    [call] = client.calls
    assert (call["FunctionName"], call["InvocationType"]) == (function, "RequestResponse")
    payload = json.loads(call["Payload"])
    assert "principal" not in payload  # who asks is STS's answer to the proof, not the CLI's word
    assert {k: payload[k] for k in ("mode", "environment", "model", "reason", "to_version")} == {
        "mode": "manual",
        "environment": "prod",
        "model": "ships",
        "reason": "p99",
        "to_version": "5",
    }
    proof = payload["identity_proof"]
    assert proof["url"] == "https://sts.eu-west-1.amazonaws.com"
    headers = proof_headers(proof, "mlops-rollback-prod")
    assert (
        "Credential=AKIAEXAMPLE/" in headers["authorization"]
        and "/eu-west-1/sts/" in headers["authorization"]
    )
    assert headers["x-amz-security-token"] == "session-token"
    assert "secret" not in json.dumps(payload)


def test_a_refusal_is_an_answer_and_a_function_error_an_exception() -> None:
    refused = request_rollback(Session(Lambda({"accepted": False, "message": "Refused: x"})), "f", "ships")
    assert not refused.accepted and refused.message == "Refused: x"
    failing = Lambda({"errorType": "ConfigError", "errorMessage": "DEPLOY_TARGETS is not set"}, "Unhandled")
    with pytest.raises(RuntimeError, match="ConfigError: DEPLOY_TARGETS is not set"):
        request_rollback(Session(failing), "f", "ships")


def test_the_audience_is_the_function_name() -> None:
    assert function_name_of("mlops-rollback-prod") == "mlops-rollback-prod"
    assert (
        function_name_of("arn:aws:lambda:eu-west-1:1:function:mlops-rollback-prod:live")
        == "mlops-rollback-prod"
    )
