"""Export a scikit-learn model for the serving runtime: ONNX by default, skops as fallback.

The ONNX export must reproduce the estimator on the parity rows; anything that does not
convert or does not match falls back to the estimator itself (skops), and the reason is
returned so the build can record it on the model version. The converters skl2onnx lacks in
float64 (trees, SVR, TransformedTargetRegressor, LightGBM/XGBoost) are in ``onnx_converters``.
The parity figures (rows, max |diff|, tolerance, precision, k-NN tied rows) are recorded in
``serving.json``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.model_build import onnx_converters, onnx_trees, skops_types
from mlops_pipeline.model_build.errors import ExportError
from mlops_pipeline.model_build.parity import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    FLOAT32_RTOL,
    KnnTies,
    ParityReport,
    check_parity,
    float32_atol,
    knn_ties,
    with_ties,
)
from mlops_pipeline.serving.runtime import CODE_DIR, MANIFEST, Manifest, load_model

ONNX_FILE = "model.onnx"
SKOPS_FILE = "model.skops"
INPUT_NAME = "input"
# ai.onnx.ml goes to 5 after conversion when the graph holds a float64 TreeEnsemble (onnx_trees).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class ExportResult:
    flavor: str  # "onnx" | "skops"
    model_dir: Path
    parity: ParityReport | None
    fallback_reason: str | None = None


def _is_classifier(model: Any) -> bool:
    return getattr(model, "_estimator_type", None) == "classifier" or (
        hasattr(model, "__sklearn_tags__")
        and getattr(model.__sklearn_tags__(), "estimator_type", None) == "classifier"
    )


def _converter_options(model: Any) -> dict[int, dict[str, Any]]:
    """Per-estimator skl2onnx options: exact-distance KNN, plain probability arrays."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    estimators = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    options: dict[int, dict[str, Any]] = {}
    for estimator in estimators:
        opts: dict[str, Any] = {}
        if isinstance(estimator, KNeighborsRegressor | KNeighborsClassifier):
            # cdist: one pairwise-distance op instead of a loop over training rows (faster, same values).
            opts["optim"] = "cdist"
        if _is_classifier(estimator) and _accepts(estimator, "zipmap"):
            opts["zipmap"] = False  # probabilities as a float matrix, not a list of dicts
        if opts:
            options[id(estimator)] = opts
    return options


def _accepts(estimator: Any, option: str) -> bool:
    """Whether skl2onnx's converter for ``estimator`` has ``option`` (LinearSVC has no zipmap)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    alias = sklearn_operator_name_map.get(type(estimator))
    if alias is None:
        return True  # unknown here: let the conversion say what it does not support
    allowed = get_converter(alias).get_allowed_options() or {}
    return option in allowed


def _manifest(
    model: Any, flavor: str, file: str, columns: Sequence[str], max_rows: int, **extra: Any
) -> Manifest:
    classification = _is_classifier(model)
    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_] if classification else None
    return Manifest(
        flavor=flavor,
        file=file,
        columns=tuple(columns),
        task="classification" if classification else "regression",
        classes=tuple(classes) if classes is not None else None,
        input_name=INPUT_NAME,
        max_rows=max_rows,
        **extra,
    )


def _write(manifest: Manifest, out_dir: Path) -> None:
    (out_dir / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))


def export_onnx(model: Any, columns: Sequence[str], out_dir: Path, max_rows: int) -> Manifest:
    """Convert ``model`` to ONNX with float64 input (exact for KNN/linear models)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    onnx_converters.register()
    onnx_model = to_onnx(
        model,
        initial_types=[(INPUT_NAME, DoubleTensorType([None, len(columns)]))],
        options=_converter_options(model),
        target_opset=TARGET_OPSET,
    )
    onnx_trees.finalize(onnx_model)
    if _is_classifier(model) and not hasattr(model, "predict_proba"):
        # SVC without probability=True, LinearSVC: the second output is decision scores, which
        # the response must not call probabilities; serve the labels only.
        del onnx_model.graph.output[1:]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ONNX_FILE).write_bytes(onnx_model.SerializeToString())
    manifest = _manifest(model, "onnx", ONNX_FILE, columns, max_rows)
    _write(manifest, out_dir)
    return manifest


def copy_modules(modules: Mapping[str, Path], code_dir: Path) -> None:
    """The project modules (``<name>.py`` files or package folders) into ``code_dir``."""
    code_dir.mkdir(parents=True, exist_ok=True)
    for name, source in sorted(modules.items()):
        if source.is_dir():
            shutil.copytree(
                source, code_dir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=False
            )
        else:
            shutil.copyfile(source, code_dir / f"{name}.py")


def export_skops(
    model: Any,
    columns: Sequence[str],
    out_dir: Path,
    max_rows: int,
    modules: Mapping[str, Path] | None = None,
) -> Manifest:
    """Dump the estimator with skops; the types it contains become the explicit trusted list.

    ``modules`` (mlops.toml ``[serving] modules``: name -> file) may define some of its classes;
    those modules are then copied next to the model (``code/``) and named in the manifest."""
    import skops.io

    modules = dict(modules or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SKOPS_FILE
    skops.io.dump(model, path)
    # The types the file holds are the training code's choice: trust them only when each is on
    # the pipeline's fixed allow-list (or in a declared project module); the serving runtime
    # then trusts exactly this list.
    found = skops.io.get_untrusted_types(file=path)
    trusted = skops_types.trusted_types(found, modules)
    project = skops_types.project_types(found, modules)
    if project:
        copy_modules(modules, out_dir / CODE_DIR)
    manifest = _manifest(
        model,
        "skops",
        SKOPS_FILE,
        columns,
        max_rows,
        trusted_types=trusted,
        project_code=tuple(sorted(modules)) if project else (),
    )
    _write(manifest, out_dir)
    return manifest


def served_predictions(model_dir: Path, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Predict with the serving runtime exactly as the Lambda will."""
    prediction = load_model(model_dir).predict(rows)
    return prediction.values, prediction.probabilities


@dataclass(frozen=True)
class Expected:
    """What the served model must answer on the parity rows, and within which tolerance."""

    values: np.ndarray
    proba: np.ndarray | None
    rtol: float
    atol: float
    precision: str
    ties: KnnTies | None


def expected_answers(model: Any, rows: np.ndarray, flavor: str, rtol: float, atol: float) -> Expected:
    """The estimator's own answers, with a k-NN's tied rows replaced by the deterministic tie rule
    (``parity.knn_ties``) and the float32 tolerance for exports that compute in float32."""
    classification = _is_classifier(model)
    values = np.asarray(model.predict(rows))
    proba = (
        np.asarray(model.predict_proba(rows)) if classification and hasattr(model, "predict_proba") else None
    )
    ties = knn_ties(model, rows) if flavor == "onnx" else None
    if ties is not None and ties.tied.any():
        values = values.copy()
        values[ties.tied] = ties.values[ties.tied]
        if proba is not None and ties.proba is not None:
            proba = proba.copy()
            proba[ties.tied] = ties.proba[ties.tied]
    precision = "float64"
    if flavor == "onnx" and onnx_converters.float32_family(model):
        precision = "float32"
        rtol = max(rtol, FLOAT32_RTOL)
        atol = max(atol, float32_atol(proba if proba is not None else values))
    return Expected(values, proba, rtol, atol, precision, ties)


def parity_of(model: Any, model_dir: Path, rows: np.ndarray, rtol: float, atol: float) -> ParityReport:
    """Serving runtime vs. the estimator's answers (``expected_answers``) on ``rows``."""
    served, proba = served_predictions(model_dir, rows)
    expected = expected_answers(model, rows, _flavor(model_dir), rtol, atol)
    report = check_parity(
        expected.values,
        served,
        expected_proba=expected.proba,
        actual_proba=proba,
        classification=_is_classifier(model),
        rtol=expected.rtol,
        atol=expected.atol,
    )
    return replace(with_ties(report, expected.ties), precision=expected.precision)


def _flavor(model_dir: Path) -> str:
    return json.loads((model_dir / MANIFEST).read_text())["flavor"]


def _record(model_dir: Path, report: ParityReport) -> None:
    """Add the parity figures to ``serving.json`` (the runtime reads only its own keys)."""
    path = model_dir / MANIFEST
    data = json.loads(path.read_text())
    data["parity"] = {
        "rows": report.rows,
        "max_abs_diff": report.max_abs_diff,
        "rtol": report.rtol,
        "atol": report.atol,
        "precision": report.precision,
        "knn_tied_rows": report.tied_rows,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def export_model(
    model: Any,
    columns: Sequence[str],
    rows: np.ndarray,
    out_dir: Path,
    *,
    max_rows: int = 10_000,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    prefer: str = "onnx",
    modules: Mapping[str, Path] | None = None,
) -> ExportResult:
    """Export for serving; ONNX when it converts and passes parity on ``rows``, else skops
    (which may use classes of the declared project ``modules``, see ``export_skops``)."""
    reason: str | None = None
    if prefer == "onnx":
        try:
            export_onnx(model, columns, out_dir, max_rows)
            report = parity_of(model, out_dir, rows, rtol, atol)
        except Exception as exc:  # any converter/runtime failure means: use the generic path
            reason = f"onnx export failed: {type(exc).__name__}: {str(exc)[:300]}"
        else:
            if report.ok:
                _record(out_dir, report)
                return ExportResult("onnx", out_dir, report)
            reason = f"onnx parity failed: {report.reason}"
        shutil.rmtree(out_dir, ignore_errors=True)
    export_skops(model, columns, out_dir, max_rows, modules)
    report = parity_of(model, out_dir, rows, rtol, atol)
    if not report.ok:
        raise ExportError(f"the skops export does not reproduce the model: {report.reason}")
    _record(out_dir, report)
    return ExportResult("skops", out_dir, report, fallback_reason=reason)
