"""Request parsing and validation of the serving runtime (no model needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_pipeline.serving.validation import InputSchema, InvalidInputError, parse_request

SCHEMA = InputSchema(columns=("a", "b"), max_rows=3)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"columns": ["a", "b"], "data": [[1, 2.5]]}, [[1.0, 2.5]]),
        ({"columns": ["b", "a"], "data": [[2, 1], [4, 3]]}, [[1.0, 2.0], [3.0, 4.0]]),
        ({"inputs": {"a": 1, "b": 2}}, [[1.0, 2.0]]),
        ({"inputs": {"b": [2, 4], "a": [1, 3]}}, [[1.0, 2.0], [3.0, 4.0]]),
        ({"inputs": [{"a": 1, "b": 2}, {"b": 4, "a": 3}]}, [[1.0, 2.0], [3.0, 4.0]]),
    ],
)
def test_accepted_formats_give_rows_in_schema_order(body: object, expected: list[list[float]]) -> None:
    rows = parse_request(body, SCHEMA)
    assert rows.dtype == np.float64
    assert rows.tolist() == expected


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"inputs": {"a": 1}}, "b", "missing column"),
        ({"inputs": {"a": 1, "b": 2, "c": 3}}, "c", "unknown column"),
        ({"inputs": {"a": "1", "b": 2}}, "a", "must be a number"),
        ({"inputs": {"a": True, "b": 2}}, "a", "must be a number"),
        ({"inputs": {"a": math.nan, "b": 2}}, "a", "finite"),
        ({"inputs": {"a": math.inf, "b": 2}}, "a", "finite"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "b", "expected 2"),
        ({"inputs": {"a": [1, 2], "b": 3}}, "b", "must be a list"),
        ({"inputs": {"a": [1] * 4, "b": [1] * 4}}, "inputs", "exceed the limit of 3"),
        ({"inputs": []}, "inputs", "no rows"),
        ({"inputs": [{"a": 1, "b": 2}, 7]}, "inputs[1]", "must be an object"),
        ({"inputs": 5}, "inputs", "object or a list"),
        ({"columns": ["a", "b"], "data": [[1, 2, 3]]}, "data[0]", "2 values"),
        ({"columns": ["a", "a", "b"], "data": [[1, 1, 2]]}, "a", "twice"),
        ({"columns": "a,b", "data": [[1, 2]]}, "columns", "list of column names"),
        ({"columns": ["a", "b"], "data": {"x": 1}}, "data", "list of rows"),
        ({"columns": ["a", "b"], "data": [[1, 2]], "extra": 1}, "extra", "unexpected field"),
        ({"inputs": {"a": 1, "b": 2}, "params": {}}, "params", "unexpected field"),
        ({"rows": []}, None, '"inputs" or "columns"'),
        ([1, 2], None, "JSON object"),
    ],
)
def test_malformed_input_names_the_field(body: object, field: str | None, words: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_request(body, SCHEMA)
    assert info.value.field == field
    assert words in info.value.message
    assert info.value.to_dict() == {"type": "InvalidInput", "message": info.value.message, "field": field}
