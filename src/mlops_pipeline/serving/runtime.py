"""Load the exported model from its folder and predict on validated rows.

The folder holds ``serving.json`` (the manifest the build writes) and the model file:
``model.onnx`` (flavour ``onnx``, served by onnxruntime) or ``model.skops`` (flavour
``skops``, the scikit-learn object loaded with an explicit list of trusted types).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from .validation import DEFAULT_MAX_ROWS, InputSchema

MANIFEST = "serving.json"
CODE_DIR = "code"  # the project modules a skops model's classes come from (mlops.toml [serving] modules)


class ModelLoadError(Exception):
    """The model folder is missing, incomplete or of an unknown flavour."""


@dataclass(frozen=True)
class Manifest:
    """What the build recorded about the exported model."""

    flavor: str
    file: str
    columns: tuple[str, ...]
    task: str = "regression"  # or "classification"
    classes: tuple[Any, ...] | None = None
    input_name: str = "input"
    max_rows: int = DEFAULT_MAX_ROWS
    trusted_types: tuple[str, ...] = ()
    # Top-level project modules shipped in code/ (their code runs when the model loads).
    project_code: tuple[str, ...] = ()
    # The registered model the artifact serves (the build adds them once the version exists).
    model_name: str = ""
    model_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        try:
            return cls(
                flavor=str(data["flavor"]),
                file=str(data["file"]),
                columns=tuple(str(c) for c in data["columns"]),
                task=str(data.get("task", "regression")),
                classes=tuple(data["classes"]) if data.get("classes") is not None else None,
                input_name=str(data.get("input_name", "input")),
                max_rows=int(data.get("max_rows", DEFAULT_MAX_ROWS)),
                trusted_types=tuple(str(t) for t in data.get("trusted_types", ())),
                project_code=tuple(str(m) for m in data.get("project_code") or ()),
                model_name=str(data.get("model_name") or ""),
                model_version=str(data.get("model_version") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"malformed {MANIFEST}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "flavor": self.flavor,
            "file": self.file,
            "columns": list(self.columns),
            "task": self.task,
            "classes": list(self.classes) if self.classes is not None else None,
            "input_name": self.input_name,
            "max_rows": self.max_rows,
            "trusted_types": list(self.trusted_types),
            "project_code": list(self.project_code),
            "model_name": self.model_name,
            "model_version": self.model_version,
        }

    @property
    def schema(self) -> InputSchema:
        return InputSchema(columns=self.columns, max_rows=self.max_rows)


class Prediction(NamedTuple):
    """Per-row predictions; ``probabilities`` only for classifiers (columns follow ``classes``).

    A NamedTuple rather than a dataclass: it is built on every request and is cheaper.
    """

    values: np.ndarray
    probabilities: np.ndarray | None = None


class Predictor(Protocol):
    manifest: Manifest

    def predict(self, rows: np.ndarray) -> Prediction: ...


class OnnxPredictor:
    """onnxruntime session over ``model.onnx`` (float64 input named ``manifest.input_name``)."""

    def __init__(self, manifest: Manifest, path: str) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One small model per Lambda: extra threads only add start-up and scheduling cost.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.manifest = manifest
        self.session = onnxruntime.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._outputs = [output.name for output in self.session.get_outputs()]
        self._classifier = manifest.task == "classification"
        # InferenceSession.run re-validates the input names on every call before handing over
        # to the native session; the inputs are already validated here, and on a one-row
        # request that check is a quarter of the warm latency. Use the native call when this
        # onnxruntime has it and it answers like run() on a probe row, else run() itself.
        self._run = self._native_run()

    def _native_run(self) -> Any:
        public = self.session.run
        native = getattr(getattr(self.session, "_sess", None), "run", None)
        if native is None:
            return public
        probe = {self.manifest.input_name: np.zeros((1, len(self.manifest.columns)), dtype=np.float64)}
        try:
            expected = public(self._outputs, probe)
            got = native(self._outputs, probe, None)
            same = len(got) == len(expected) and all(
                np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(got, expected, strict=True)
            )
        except Exception:
            return public
        if not same:
            return public
        return lambda outputs, feed: native(outputs, feed, None)

    def predict(self, rows: np.ndarray) -> Prediction:
        results = self._run(self._outputs, {self.manifest.input_name: rows})
        if self._classifier and len(results) > 1:
            return Prediction(results[0], results[1])
        values = results[0]
        # Regressors answer a column; callers want one value per row.
        return Prediction(values.ravel() if values.ndim == 2 and values.shape[1] == 1 else values)


class SkopsPredictor:
    """The scikit-learn estimator itself, loaded by skops with the recorded trusted types only."""

    def __init__(self, manifest: Manifest, path: str) -> None:
        import skops.io

        self.manifest = manifest
        if manifest.project_code:
            # Appended: a project module never shadows the runtime or the serving set.
            code = os.path.join(os.path.dirname(path), CODE_DIR)
            if code not in sys.path:
                sys.path.append(code)
        self.model = skops.io.load(path, trusted=list(manifest.trusted_types))

    def predict(self, rows: np.ndarray) -> Prediction:
        values = np.asarray(self.model.predict(rows))
        if self.manifest.task == "classification" and hasattr(self.model, "predict_proba"):
            return Prediction(values=values, probabilities=np.asarray(self.model.predict_proba(rows)))
        return Prediction(values=values)


def read_manifest(model_dir: str | os.PathLike[str]) -> Manifest:
    path = os.path.join(model_dir, MANIFEST)
    if not os.path.isfile(path):
        raise ModelLoadError(f"no {MANIFEST} in {model_dir}")
    with open(path, encoding="utf-8") as handle:
        return Manifest.from_dict(json.load(handle))


def load_model(model_dir: str | os.PathLike[str]) -> Predictor:
    """Load the model in ``model_dir`` with the runtime its manifest names."""
    manifest = read_manifest(model_dir)
    path = os.path.join(model_dir, manifest.file)
    if not os.path.isfile(path):
        raise ModelLoadError(f"model file {manifest.file} is missing from {model_dir}")
    if manifest.flavor == "onnx":
        return OnnxPredictor(manifest, path)
    if manifest.flavor == "skops":
        return SkopsPredictor(manifest, path)
    raise ModelLoadError(f"unknown serving flavour {manifest.flavor!r}")
