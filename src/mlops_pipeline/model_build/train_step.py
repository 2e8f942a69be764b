"""The untrusted training step: ``mlops-pipeline train``.

Runs the model author's ``train.py`` where the pipeline keeps no keys: no MLflow credentials,
no registry write, no Docker (on AWS its own CodeBuild project and role). ``train.py`` uses the
MLflow API as it always did, against a throwaway SQLite store in a temporary folder; this step then reads
that run back, exports the model for serving (ONNX, else skops) with its parity check, and
writes the training output (``train_output``) for the trusted step, which registers it.
Everything here may have been changed by the author's code: the trusted step re-checks it.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.model_build import project_code, train_output
from mlops_pipeline.model_build.config import ProjectConfig, load_config
from mlops_pipeline.model_build.errors import (
    BuildError,
    MissingMetricError,
    NoModelLoggedError,
    TrainingFailedError,
)
from mlops_pipeline.model_build.export import expected_answers, export_model
from mlops_pipeline.model_build.parity import DEFAULT_ATOL, DEFAULT_RTOL
from mlops_pipeline.model_build.policy import PipelinePolicy, enforce
from mlops_pipeline.model_build.train_venv import TrainPython, training_python
from mlops_pipeline.serving.validation import InputSchema, InvalidInputError, parse_request

Progress = Callable[[str], None]
_NUMERIC = {"double", "float", "long", "integer"}
# Never handed to train.py, even where the environment has them (a developer's shell): the
# training code talks to its own local store only.
_WITHHELD_PREFIXES = ("MLFLOW_", "MLOPS_SLACK", "SLACK_")


# Credentials the training step must not even hold: train.py could read its parent's
# environment (/proc/<ppid>/environ), so filtering the child's is not enough.
_CREDENTIALS = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME")


def refuse_credentials(env: Mapping[str, str]) -> None:
    """BuildError when the training step's own environment holds pipeline credentials."""
    held = sorted(k for k in env if k in _CREDENTIALS or k.startswith(("SLACK_", "MLOPS_SLACK")))
    if held:
        raise BuildError(
            f"the training step runs the model's own code and must not hold {', '.join(held)}: "
            "remove them from its environment (on AWS the training project never gets them; "
            "`mlops-pipeline build` runs both steps in one process and is no such boundary)"
        )


def training_env(
    env: Mapping[str, str], tracking_uri: str, run_id: str, experiment_id: str
) -> dict[str, str]:
    """train.py's environment: ``env`` without MLflow or Slack settings, plus the local store's run."""
    kept = {k: v for k, v in env.items() if not k.startswith(_WITHHELD_PREFIXES)}
    return {
        **kept,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
    }


def smoke_request(config: ProjectConfig, example: Any, columns: list[str]) -> dict[str, Any]:
    """The smoke test's request body: mlops.toml's, else the logged input example (split format)."""
    if config.smoke_input is not None:
        return config.smoke_input
    if example is None:
        raise BuildError(
            "no smoke input: log an input_example with the model or set [smoke] input in mlops.toml"
        )
    if not hasattr(example, "columns"):
        raise BuildError("the logged input example is not a table; set [smoke] input in mlops.toml")
    return {"columns": columns, "data": example[columns].astype("float64").to_numpy().tolist()}


def parity_rows(config: ProjectConfig, columns: list[str], extra: np.ndarray) -> np.ndarray:
    """Rows the export must reproduce: a seeded sample of [parity] data plus the smoke rows."""
    blocks = [extra]
    if config.parity_data is not None:
        import pandas as pd

        if not config.parity_data.is_file():
            raise BuildError(f"parity data {config.parity_data} does not exist")
        frame = pd.read_csv(config.parity_data)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise BuildError(f"parity data lacks the model's column {missing[0]!r}")
        sample = frame[columns].dropna()
        sample = sample.sample(n=min(config.parity_rows, len(sample)), random_state=0)
        blocks.append(sample.astype("float64").to_numpy())
    return np.vstack(blocks)


@dataclass(frozen=True)
class TrainSettings:
    project_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    python: str = sys.executable
    repository: str = ""


class Trainer:
    """Train, read the run back, export; ``run(output_dir)`` fills ``output_dir`` (train_output)."""

    def __init__(self, settings: TrainSettings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.progress = progress or (lambda message: None)

    def run(self, output_dir: Path) -> train_output.TrainManifest:
        settings = self.settings
        repository = settings.repository or settings.env.get("GIT_REPOSITORY")
        # The trusted step applies the policy again; here it gives an early, clear refusal.
        config = enforce(load_config(settings.project_dir, repository), PipelinePolicy.from_env(settings.env))
        output_dir.mkdir(parents=True, exist_ok=True)
        import mlflow

        previous = mlflow.get_tracking_uri()
        with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
            try:
                # A throwaway SQLite store (MLflow's file store is deprecated) with local artifacts.
                return self._run(config, f"sqlite:///{Path(tmp) / 'mlflow.db'}", output_dir, Path(tmp))
            finally:
                mlflow.set_tracking_uri(previous)  # the fluent API is process-wide

    def _run(
        self, config: ProjectConfig, tracking_uri: str, out: Path, work: Path
    ) -> train_output.TrainManifest:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(tracking_uri)  # the fluent API (load_model) reads the same store
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = client.create_experiment(
            config.model_name, artifact_location=(work / "artifacts").as_uri()
        )
        run_id = client.create_run(experiment_id).info.run_id
        python = training_python(
            self.settings.project_dir, self.settings.python, self.settings.env, self.progress
        )
        self.progress(f"model {config.model_name}: running {config.entrypoint} (no pipeline credentials)")
        self._train(config, tracking_uri, run_id, experiment_id, python)
        run = client.get_run(run_id)
        if config.gate_metric not in run.data.metrics:
            raise MissingMetricError(
                f"train.py logged no metric {config.gate_metric!r} (the gate metric); "
                f"logged: {sorted(run.data.metrics)}"
            )
        logged = self._logged_model(client, experiment_id, run_id)
        self.progress(
            f"trained: {config.gate_metric}={run.data.metrics[config.gate_metric]:.6g}; "
            f"logged model {logged.name}"
        )
        local_model = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{logged.model_id}", dst_path=str(out / train_output.LOGGED_MODEL)
            )
        )
        # The model's classes may come from the project or its requirements: import them from
        # there while loading and exporting (this step runs the author's code anyway).
        paths = [self.settings.project_dir, *([python.site] if python.site else [])]
        with project_code.import_paths(paths):
            return self._export(config, local_model, out, client, run, run_id, logged)

    def _export(
        self,
        config: ProjectConfig,
        local_model: Path,
        out: Path,
        client: Any,
        run: Any,
        run_id: str,
        logged: Any,
    ) -> train_output.TrainManifest:
        try:
            model, columns, example = _load(local_model)
        except BuildError:
            raise
        except Exception as exc:  # unpickling runs arbitrary code: any failure, said plainly
            raise project_code.explain_load_failure(exc, config.entrypoint) from exc
        smoke = smoke_request(config, example, columns)
        schema = InputSchema(columns=tuple(columns), max_rows=config.max_rows)
        try:
            smoke_rows = parse_request(smoke, schema)
        except InvalidInputError as exc:
            raise BuildError(f"the smoke input does not match the model signature: {exc.message}") from exc
        rows = parity_rows(config, columns, smoke_rows)
        rtol = config.parity_tolerance if config.parity_tolerance is not None else DEFAULT_RTOL
        try:
            exported = export_model(
                model,
                columns,
                rows,
                out / train_output.EXPORT,
                max_rows=config.max_rows,
                rtol=rtol,
                modules=project_code.declared_modules(config),
            )
        except BuildError:
            raise
        except Exception as exc:  # the model's own predict/serialisation failed: name it
            raise BuildError(
                f"the model could not be exported for serving: {type(exc).__name__}: {str(exc)[:1000]}"
            ) from exc
        _write_parity(out / train_output.PARITY_FILE, model, rows, exported.flavor, rtol)
        if exported.fallback_reason:
            self.progress(f"serving flavour skops (fallback: {exported.fallback_reason})")
        elif exported.parity is not None:
            self.progress(
                f"serving flavour {exported.flavor}: parity on {exported.parity.rows} rows, "
                f"max |diff| {exported.parity.max_abs_diff:.3g}"
            )
        client.download_artifacts(run_id, "", str(_fresh(out / train_output.RUN_ARTIFACTS)))
        client.set_terminated(run_id, "FINISHED")
        manifest = train_output.TrainManifest(
            model_name=config.model_name,
            columns=tuple(columns),
            metrics=tuple(_history(client, run_id, sorted(run.data.metrics))),
            params=dict(run.data.params),
            tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            logged_model_name=logged.name or "model",
            smoke_input=smoke,
            flavor=exported.flavor,
            fallback_reason=exported.fallback_reason,
            versions=_versions(),
        )
        manifest.write(out)
        return manifest

    def _train(
        self, config: ProjectConfig, tracking_uri: str, run_id: str, experiment_id: str, python: TrainPython
    ) -> None:
        entry = self.settings.project_dir / config.entrypoint
        if not entry.is_file():
            raise TrainingFailedError(f"{config.entrypoint} does not exist in {self.settings.project_dir}")
        result = subprocess.run(
            [python.python, str(entry), *config.train_args],
            cwd=self.settings.project_dir,
            env=training_env(self.settings.env, tracking_uri, run_id, experiment_id),
            stdout=2,  # train.py's output is for humans (the build log), stderr like ours
            check=False,
        )
        if result.returncode != 0:
            raise TrainingFailedError(
                f"{config.entrypoint} failed with exit code {result.returncode} (its output is above)"
            )

    @staticmethod
    def _logged_model(client: Any, experiment_id: str, run_id: str) -> Any:
        models = list(
            client.search_logged_models(
                experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
            )
        )
        if not models:
            raise NoModelLoggedError("train.py logged no model to its run (use mlflow.sklearn.log_model)")
        if len(models) > 1:
            named = [m for m in models if m.name == "model"]
            if len(named) != 1:
                raise NoModelLoggedError(
                    f"train.py logged {len(models)} models; log one, or name the one to serve 'model'"
                )
            return named[0]
        return models[0]


def _load(local: Path) -> tuple[Any, list[str], Any]:
    """The logged scikit-learn model, its signature's columns and its input example."""
    import mlflow
    from mlflow.models import Model

    meta = Model.load(str(local))
    columns = signature_columns(meta)
    model = mlflow.sklearn.load_model(str(local))
    return model, columns, meta.load_input_example(str(local))


def signature_columns(meta: Any) -> list[str]:
    """The named numeric input columns of an MLmodel, or a BuildError saying what is missing."""
    if "sklearn" not in meta.flavors:
        raise BuildError(
            f"the serving runtime supports scikit-learn models; this one has {sorted(meta.flavors)}"
        )
    signature = meta.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        raise BuildError("log the model with a signature of named columns (mlflow.models.infer_signature)")
    for spec in signature.inputs.inputs:
        if str(getattr(spec.type, "name", spec.type)) not in _NUMERIC:
            raise BuildError(
                f"column {spec.name!r} is {spec.type}; the serving runtime takes numeric columns"
            )
    return list(signature.inputs.input_names())


def _write_parity(path: Path, model: Any, rows: np.ndarray, flavor: str, rtol: float) -> None:
    """The rows and the answers the export must give (the estimator's, k-NN ties resolved by the
    export's rule): the trusted step checks the export against them."""
    expected = expected_answers(model, rows, flavor, rtol, DEFAULT_ATOL)
    if expected.proba is not None:
        np.savez(path, rows=rows, expected=expected.values, expected_proba=expected.proba)
    else:
        np.savez(path, rows=rows, expected=expected.values)


def _history(client: Any, run_id: str, keys: list[str]) -> list[train_output.MetricPoint]:
    return [
        train_output.MetricPoint(key, float(m.value), int(m.step), int(m.timestamp))
        for key in keys
        for m in client.get_metric_history(run_id, key)
    ]


def _versions() -> dict[str, str]:
    out = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for name in ("scikit-learn", "numpy", "mlflow"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_output_uri(env: Mapping[str, str]) -> str | None:
    """``s3://$ARTIFACTS_BUCKET/$TRAIN_OUTPUT_KEY`` when CodeBuild sets both (the state machine does)."""
    bucket, key = env.get("ARTIFACTS_BUCKET"), env.get("TRAIN_OUTPUT_KEY")
    return f"s3://{bucket}/{key}" if bucket and key else None
