"""Text for the demo's summary: a prediction with its class probabilities, how the model is served."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_pipeline.domain.evaluation import serving_summary


def prediction_text(response: Mapping[str, Any]) -> str:
    """One prediction per row; a classifier's row also shows each class with its probability.

    ``response`` is the serving runtime's answer (``predictions`` and, for classifiers,
    ``probabilities`` whose columns follow ``classes``); anything else is shown as JSON.
    """
    predictions = response.get("predictions")
    probabilities = response.get("probabilities")
    if not isinstance(predictions, list):
        return json.dumps(dict(response))
    if not isinstance(probabilities, list) or len(probabilities) != len(predictions):
        return json.dumps(predictions)
    classes = response.get("classes")
    rows = []
    for label, row in zip(predictions, probabilities, strict=True):
        names: Sequence[Any] = classes if isinstance(classes, list) else range(len(row))
        shown = ", ".join(f"{name}: {_probability(p)}" for name, p in zip(names, row, strict=False))
        rows.append(f"{label} ({shown})")
    return "; ".join(rows)


def serving_text(evaluation: Mapping[str, Any]) -> str:
    """``onnx`` or ``skops (fallback: <why>)`` from the Evaluate step's output ("" unknown)."""
    return serving_summary(evaluation.get("serving_flavor"), evaluation.get("serving_fallback_reason"))


def _probability(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else str(value)
