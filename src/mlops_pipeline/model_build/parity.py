"""Compare the exported serving model with the training framework on the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Stated tolerance: |served - trained| <= ATOL + RTOL * |trained|, elementwise (numpy.isclose).
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-6


@dataclass(frozen=True)
class ParityReport:
    ok: bool
    rows: int
    max_abs_diff: float
    reason: str = ""


def check_parity(
    expected: np.ndarray,
    actual: np.ndarray,
    *,
    expected_proba: np.ndarray | None = None,
    actual_proba: np.ndarray | None = None,
    classification: bool = False,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ParityReport:
    """Labels must match exactly (classifiers); values and probabilities within rtol/atol."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    rows = len(expected)
    if expected.shape != actual.shape:
        return ParityReport(False, rows, float("inf"), f"shape {actual.shape} != expected {expected.shape}")
    if classification:
        mismatched = int(np.sum(expected != actual))
        if mismatched:
            return ParityReport(False, rows, float("inf"), f"{mismatched} of {rows} labels differ")
        max_diff = 0.0
        if expected_proba is not None:
            if actual_proba is None:
                return ParityReport(False, rows, float("inf"), "the export gives no probabilities")
            return _close(
                np.asarray(expected_proba, float),
                np.asarray(actual_proba, float),
                rows,
                rtol,
                atol,
                "probabilities",
            )
        return ParityReport(True, rows, max_diff)
    return _close(expected.astype(float), actual.astype(float), rows, rtol, atol, "predictions")


def _close(
    expected: np.ndarray, actual: np.ndarray, rows: int, rtol: float, atol: float, what: str
) -> ParityReport:
    if expected.shape != actual.shape:
        return ParityReport(False, rows, float("inf"), f"{what} shape {actual.shape} != {expected.shape}")
    nan_mismatch = np.isnan(expected) != np.isnan(actual)
    diff = np.abs(np.nan_to_num(expected) - np.nan_to_num(actual))
    max_diff = float(diff.max()) if diff.size else 0.0
    bad = int(np.sum(~np.isclose(expected, actual, rtol=rtol, atol=atol, equal_nan=True) | nan_mismatch))
    if bad:
        return ParityReport(
            False,
            rows,
            max_diff,
            f"{bad} of {expected.size} {what} differ beyond rtol={rtol:g}, atol={atol:g} (max |diff| {max_diff:.3g})",
        )
    return ParityReport(True, rows, max_diff)
