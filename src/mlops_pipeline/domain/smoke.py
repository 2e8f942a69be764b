"""Judge a smoke-test invocation of the function behind ``live``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.domain.models import InvokeResult


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    reason: str
    latency_ms: float
    rows: int | None
    executed_version: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "latency_ms": round(self.latency_ms, 2),
            "rows": self.rows,
            "executed_version": self.executed_version,
        }


def expected_rows(example: Any) -> int | None:
    """How many rows an input example holds (the shapes the serving runtime accepts)."""
    if isinstance(example, list):
        return len(example)
    if not isinstance(example, Mapping):
        return None
    for key in ("inputs", "instances", "data", "dataframe_records"):
        value = example.get(key)
        if isinstance(value, list):
            return len(value)
        if isinstance(value, Mapping):
            columns = [v for v in value.values() if isinstance(v, list)]
            if columns:
                return len(columns[0])
            return 1
    split = example.get("dataframe_split")
    if isinstance(split, Mapping) and isinstance(split.get("data"), list):
        return len(split["data"])
    return None


def _unwrap(payload: Any) -> tuple[int, Any]:
    """(status, body): a Function URL / API Gateway style response carries its JSON in ``body``;
    a direct-invoke answer may carry ``statusCode`` beside the data."""
    if isinstance(payload, Mapping) and "statusCode" in payload and "body" not in payload:
        try:
            return int(payload["statusCode"]), payload
        except (TypeError, ValueError):
            return 500, payload
    if isinstance(payload, Mapping) and "statusCode" in payload and "body" in payload:
        body = payload["body"]
        if isinstance(body, str):
            try:
                return int(payload["statusCode"]), json.loads(body)
            except (ValueError, TypeError):
                return int(payload["statusCode"]), body
        return int(payload["statusCode"]), body
    return 200, payload


def check(
    result: InvokeResult,
    example: Any,
    max_latency_ms: float,
    expected_version: str | None = None,
    expected_model_version: str | None = None,
) -> SmokeResult:
    """Pass when the function answered without error, in shape, in time, from the right version.

    ``expected_version`` is the Lambda version behind the alias; ``expected_model_version`` the
    registry version the image serves (checked when the response names it).
    """

    def fail(reason: str, rows: int | None = None) -> SmokeResult:
        return SmokeResult(False, reason, result.latency_ms, rows, result.executed_version)

    if result.function_error:
        detail = result.payload
        if isinstance(detail, Mapping):
            detail = f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', '')}"
        return fail(f"the function failed ({result.function_error}): {str(detail)[:300]}")
    if result.status_code >= 300:
        return fail(f"invoke returned HTTP {result.status_code}")
    if expected_version and result.executed_version and result.executed_version != expected_version:
        return fail(f"live ran version {result.executed_version}, expected {expected_version}")
    status, body = _unwrap(result.payload)
    if status >= 400:
        return fail(f"the model answered {status}: {str(body)[:300]}")
    if not isinstance(body, Mapping) or "predictions" not in body:
        return fail(f"response has no 'predictions': {str(body)[:300]}")
    served = body.get("model_version")
    if expected_model_version and served is not None and str(served) != expected_model_version:
        return fail(f"live serves model version {served}, expected {expected_model_version}")
    predictions = body["predictions"]
    if not isinstance(predictions, list) or not predictions:
        return fail("'predictions' is not a non-empty list")
    rows = expected_rows(example)
    if rows is not None and len(predictions) != rows:
        return fail(f"{len(predictions)} predictions for {rows} input rows", len(predictions))
    if result.latency_ms > max_latency_ms:
        return fail(
            f"latency {result.latency_ms:.0f} ms is above the limit of {max_latency_ms:.0f} ms",
            len(predictions),
        )
    return SmokeResult(
        True,
        f"{len(predictions)} prediction(s) in {result.latency_ms:.0f} ms",
        result.latency_ms,
        len(predictions),
        result.executed_version,
    )
