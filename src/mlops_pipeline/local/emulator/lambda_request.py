"""What an Invoke request names and asks for, read as Lambda reads them (used by lambda_runtime)."""

from __future__ import annotations

from typing import Any


def invoked_arn(account_id: str, region: str, function_name: str, qualifier: str | None) -> str:
    if function_name.startswith("arn:"):
        arn = function_name
    else:
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return arn


def header(headers: Any, name: str, default: str | None = None) -> str | None:
    if headers is None:
        return default
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    return default if value is None else str(value)
