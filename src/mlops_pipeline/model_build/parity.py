"""Compare the exported serving model with the training framework on the same rows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

# Stated tolerance: |served - trained| <= ATOL + RTOL * |trained|, elementwise (numpy.isclose).
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-6
# Exports that compute in float32 (LightGBM, XGBoost through onnxmltools): a float32 leaf value
# carries ~6e-8 of relative error and a prediction sums many of them, so the tolerance is
# RTOL 1e-4 and an ATOL of 1e-5 times the largest |trained| value on the parity rows (at least 1).
FLOAT32_RTOL = 1e-4
FLOAT32_ATOL_SCALE = 1e-5
# Two neighbour distances this close (relative) are a tie: either neighbour is a valid k-NN answer.
KNN_TIE_RTOL = 1e-9
_METRICS = {"manhattan": "cityblock", "l1": "cityblock", "l2": "euclidean"}


@dataclass(frozen=True)
class ParityReport:
    ok: bool
    rows: int
    max_abs_diff: float
    reason: str = ""
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    precision: str = "float64"  # what the export computes in
    tied_rows: int = 0  # k-NN rows whose neighbours tie, checked against the lowest-index rule


def float32_atol(expected: np.ndarray) -> float:
    """The float32 exports' absolute tolerance for these trained values."""
    values = np.abs(np.asarray(expected, float))
    return FLOAT32_ATOL_SCALE * max(1.0, float(values.max()) if values.size else 1.0)


@dataclass(frozen=True)
class KnnTies:
    """Rows where the k nearest training rows are not unique, and the deterministic answer there."""

    tied: np.ndarray  # bool per row
    values: np.ndarray
    proba: np.ndarray | None


def knn_ties(model: Any, rows: np.ndarray) -> KnnTies | None:
    """Tie-aware reference for a uniform-weight k-NN (alone or last in a pipeline), else None.

    scikit-learn picks among equidistant neighbours by its search structure (KD tree, ball tree
    or partition order), which nothing else reproduces; the ONNX export takes the nearest k
    with ties broken by the lower training-row index (TopK's rule). On tied rows the served
    answer must equal that rule, computed here from exact distances; other rows must match
    scikit-learn's own prediction.
    """
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if not isinstance(final, KNeighborsRegressor | KNeighborsClassifier) or final.weights != "uniform":
        return None
    features = model[:-1].transform(rows) if hasattr(model, "steps") else rows
    k = final.n_neighbors
    fitted = final._fit_X
    if k >= len(fitted):
        return None
    # scipy's cdist computes each pair on its own, so equal points give bit-equal distances
    # (scikit-learn's euclidean_distances goes through a matrix product and may not).
    distances = cdist(
        features,
        fitted,
        metric=_METRICS.get(final.effective_metric_, final.effective_metric_),
        **(final.effective_metric_params_ or {}),
    )
    kth = np.sort(distances, axis=1)[:, k - 1 : k]
    margin = kth * KNN_TIE_RTOL
    nearer = distances < kth - margin
    at_kth = np.abs(distances - kth) <= margin
    tied = at_kth.sum(axis=1) > k - nearer.sum(axis=1)
    # The rule: every strictly nearer row, then the tied rows in training order.
    rank = np.where(nearer, 0, np.where(at_kth, 1, 2)) * len(fitted) + np.arange(len(fitted))
    nearest = np.argsort(rank, axis=1, kind="stable")[:, :k]
    if isinstance(final, KNeighborsRegressor):
        return KnnTies(tied, np.asarray(final._y, float)[nearest].mean(axis=1), None)
    encoded = np.asarray(final._y)[nearest]
    if encoded.ndim != 2:
        return None  # multi-output classifiers: plain parity
    proba = np.stack([(encoded == c).sum(axis=1) / k for c in range(len(final.classes_))], axis=1)
    return KnnTies(tied, final.classes_[np.argmax(proba, axis=1)], proba)


def with_ties(report: ParityReport, ties: KnnTies | None) -> ParityReport:
    return report if ties is None else replace(report, tied_rows=int(ties.tied.sum()))


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
    report = _check(expected, actual, expected_proba, actual_proba, classification, rtol, atol)
    return replace(report, rtol=rtol, atol=atol)


def _check(
    expected: np.ndarray,
    actual: np.ndarray,
    expected_proba: np.ndarray | None,
    actual_proba: np.ndarray | None,
    classification: bool,
    rtol: float,
    atol: float,
) -> ParityReport:
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
