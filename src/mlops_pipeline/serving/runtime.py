"""Load the exported model from its folder and predict on validated rows.

The folder holds ``serving.json`` (the manifest the build writes) and the model file:
``model.onnx`` (flavour ``onnx``, served by onnxruntime) or ``model.skops`` (flavour
``skops``, the scikit-learn object loaded with an explicit list of trusted types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .validation import DEFAULT_MAX_ROWS, InputSchema

MANIFEST = "serving.json"


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
        }

    @property
    def schema(self) -> InputSchema:
        return InputSchema(columns=self.columns, max_rows=self.max_rows)


@dataclass(frozen=True)
class Prediction:
    """Per-row predictions; ``probabilities`` only for classifiers (columns follow ``classes``)."""

    values: np.ndarray
    probabilities: np.ndarray | None = None


class Predictor(Protocol):
    manifest: Manifest

    def predict(self, rows: np.ndarray) -> Prediction: ...


class OnnxPredictor:
    """onnxruntime session over ``model.onnx`` (float64 input named ``manifest.input_name``)."""

    def __init__(self, manifest: Manifest, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One small model per Lambda: extra threads only add start-up and scheduling cost.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.manifest = manifest
        self.session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._outputs = [output.name for output in self.session.get_outputs()]

    def predict(self, rows: np.ndarray) -> Prediction:
        results = self.session.run(self._outputs, {self.manifest.input_name: rows})
        values = np.asarray(results[0]).reshape(len(rows), -1)
        values = values[:, 0] if values.shape[1] == 1 else values
        if self.manifest.task == "classification" and len(results) > 1:
            return Prediction(values=values, probabilities=np.asarray(results[1]))
        return Prediction(values=values)


class SkopsPredictor:
    """The scikit-learn estimator itself, loaded by skops with the recorded trusted types only."""

    def __init__(self, manifest: Manifest, path: Path) -> None:
        import skops.io

        self.manifest = manifest
        self.model = skops.io.load(path, trusted=list(manifest.trusted_types))

    def predict(self, rows: np.ndarray) -> Prediction:
        values = np.asarray(self.model.predict(rows))
        if self.manifest.task == "classification" and hasattr(self.model, "predict_proba"):
            return Prediction(values=values, probabilities=np.asarray(self.model.predict_proba(rows)))
        return Prediction(values=values)


def read_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST
    if not path.is_file():
        raise ModelLoadError(f"no {MANIFEST} in {model_dir}")
    return Manifest.from_dict(json.loads(path.read_text()))


def load_model(model_dir: Path) -> Predictor:
    """Load the model in ``model_dir`` with the runtime its manifest names."""
    manifest = read_manifest(model_dir)
    path = model_dir / manifest.file
    if not path.is_file():
        raise ModelLoadError(f"model file {manifest.file} is missing from {model_dir}")
    if manifest.flavor == "onnx":
        return OnnxPredictor(manifest, path)
    if manifest.flavor == "skops":
        return SkopsPredictor(manifest, path)
    raise ModelLoadError(f"unknown serving flavour {manifest.flavor!r}")
