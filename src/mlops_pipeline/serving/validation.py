"""Parse and validate inference requests before anything reaches the model.

Accepted request bodies (a JSON object):

* ``{"columns": ["a", "b"], "data": [[1.0, 2.0], ...]}`` - split orientation;
* ``{"inputs": {"a": 1.0, "b": 2.0}}`` - one row by name;
* ``{"inputs": {"a": [1.0, 3.0], "b": [2.0, 4.0]}}`` - a batch by column;
* ``{"inputs": [{"a": 1.0, "b": 2.0}, ...]}`` - a batch of records.

Every problem raises :class:`InvalidInputError` naming the offending field; the handler
turns it into a 400-style body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_MAX_ROWS = 10_000


class InvalidInputError(Exception):
    """The request cannot be scored; ``field`` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {"type": "InvalidInput", "message": self.message, "field": self.field}


@dataclass(frozen=True)
class InputSchema:
    """The named numeric columns the model takes, in order, and the batch size limit."""

    columns: tuple[str, ...]
    max_rows: int = DEFAULT_MAX_ROWS


def _number(value: Any, field: str) -> float:
    # bool is an int subclass; true/false is never a valid feature value.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field} must be a number, got {type(value).__name__}", field)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{field} must be a finite number", field)
    return number


def _check_columns(names: Sequence[Any], schema: InputSchema, where: str) -> None:
    for name in names:
        if not isinstance(name, str):
            raise InvalidInputError(f"{where}: column names must be strings", where)
    seen = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"column {name!r} is given twice", name)
        seen.add(name)
    for name in schema.columns:
        if name not in seen:
            raise InvalidInputError(f"missing column {name!r}", name)
    for name in names:
        if name not in schema.columns:
            raise InvalidInputError(f"unknown column {name!r}; expected {list(schema.columns)}", name)


def _check_rows(count: int, schema: InputSchema, field: str) -> None:
    if count == 0:
        raise InvalidInputError("no rows to score", field)
    if count > schema.max_rows:
        raise InvalidInputError(f"{count} rows exceed the limit of {schema.max_rows}", field)


def _from_split(body: Mapping[str, Any], schema: InputSchema) -> np.ndarray:
    columns, data = body["columns"], body.get("data")
    if not isinstance(columns, list):
        raise InvalidInputError("columns must be a list of column names", "columns")
    _check_columns(columns, schema, "columns")
    if not isinstance(data, list):
        raise InvalidInputError("data must be a list of rows", "data")
    _check_rows(len(data), schema, "data")
    order = [columns.index(name) for name in schema.columns]
    out = np.empty((len(data), len(schema.columns)), dtype=np.float64)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidInputError(f"data[{i}] must be a list of {len(columns)} values", f"data[{i}]")
        for j, k in enumerate(order):
            out[i, j] = _number(row[k], schema.columns[j])
    return out


def _from_records(records: list[Any], schema: InputSchema) -> np.ndarray:
    _check_rows(len(records), schema, "inputs")
    out = np.empty((len(records), len(schema.columns)), dtype=np.float64)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(f"inputs[{i}] must be an object of column values", f"inputs[{i}]")
        _check_columns(list(record), schema, f"inputs[{i}]")
        for j, name in enumerate(schema.columns):
            out[i, j] = _number(record[name], name)
    return out


def _from_columns(inputs: Mapping[str, Any], schema: InputSchema) -> np.ndarray:
    _check_columns(list(inputs), schema, "inputs")
    values = [inputs[name] for name in schema.columns]
    batched = [isinstance(value, list) for value in values]
    if not any(batched):
        return np.array([[_number(v, name) for v, name in zip(values, schema.columns, strict=True)]])
    for value, name in zip(values, schema.columns, strict=True):
        if not isinstance(value, list):
            raise InvalidInputError(f"{name} must be a list like the other columns", name)
    count = len(values[0])
    _check_rows(count, schema, "inputs")
    out = np.empty((count, len(schema.columns)), dtype=np.float64)
    for j, (value, name) in enumerate(zip(values, schema.columns, strict=True)):
        if len(value) != count:
            raise InvalidInputError(f"{name} has {len(value)} values, expected {count}", name)
        for i, item in enumerate(value):
            out[i, j] = _number(item, name)
    return out


def fast_single_row(body: Any, columns: tuple[str, ...]) -> np.ndarray | None:
    """The common case ``{"inputs": {col: number, ...}}`` without the general parser, else None.

    Warm latency is dominated by per-call Python work, so a well-formed single row takes this
    short path; anything else (including every malformed request) goes through
    :func:`parse_request`, which produces the precise error.
    """
    if type(body) is not dict or len(body) != 1:
        return None
    inputs = body.get("inputs")
    if type(inputs) is not dict or len(inputs) != len(columns):
        return None
    try:
        values = [inputs[name] for name in columns]
    except KeyError:
        return None
    for value in values:
        if (type(value) is not float and type(value) is not int) or not math.isfinite(value):
            return None
    return np.array([values], dtype=np.float64)


def _no_extra(body: Mapping[Any, Any], allowed: set[str]) -> None:
    extra = sorted(str(key) for key in body if key not in allowed)
    if extra:
        raise InvalidInputError(f"unexpected field {extra[0]!r}", extra[0])


def parse_request(body: Any, schema: InputSchema) -> np.ndarray:
    """Return the rows of ``body`` as a float64 matrix in schema column order."""
    if not isinstance(body, dict):
        raise InvalidInputError("the request must be a JSON object", None)
    if "columns" in body:
        _no_extra(body, {"columns", "data"})
        return _from_split(body, schema)
    if "inputs" in body:
        _no_extra(body, {"inputs"})
        inputs = body["inputs"]
        if isinstance(inputs, list):
            return _from_records(inputs, schema)
        if isinstance(inputs, dict):
            return _from_columns(inputs, schema)
        raise InvalidInputError("inputs must be an object or a list of objects", "inputs")
    raise InvalidInputError('the request needs "inputs" or "columns" and "data"', None)
