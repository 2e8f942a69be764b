"""``mlops-pipeline build``: train under an MLflow run, register, export, package, export variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.domain.models import Artifact
from mlops_pipeline.model_build import artifact as artifact_mod
from mlops_pipeline.model_build.config import ProjectConfig, load_config
from mlops_pipeline.model_build.errors import (
    BuildError,
    MissingMetricError,
    NoModelLoggedError,
    TrainingFailedError,
)
from mlops_pipeline.model_build.export import ExportResult, export_model
from mlops_pipeline.model_build.git_info import GitInfo, resolve_git_info
from mlops_pipeline.model_build.parity import DEFAULT_RTOL
from mlops_pipeline.serving.validation import InputSchema, InvalidInputError, parse_request

# What the build exports to Step Functions (docs/contracts.md).
EXPORTED = ("MODEL_NAME", "MODEL_VERSION", "ARTIFACT_URI", "ARTIFACT_KIND", "ARTIFACT_SHA256", "RUN_ID")
_NUMERIC = {"double", "float", "long", "integer"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildSettings:
    """Where to build from and publish to; ``from_env`` reads what CodeBuild provides."""

    project_dir: Path
    tracking_uri: str
    env: Mapping[str, str] = field(default_factory=dict)
    artifact: artifact_mod.ArtifactSettings = field(default_factory=artifact_mod.ArtifactSettings)
    python: str = sys.executable

    @classmethod
    def from_env(
        cls,
        project_dir: Path,
        env: Mapping[str, str] | None = None,
        tracking_uri: str | None = None,
        image_store: Path | None = None,
    ) -> BuildSettings:
        env = dict(os.environ if env is None else env)
        uri = tracking_uri or env.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise BuildError("MLFLOW_TRACKING_URI is not set (or pass --tracking-uri)")
        if image_store is None and env.get("MLOPS_LOCAL_STATE"):
            image_store = Path(env["MLOPS_LOCAL_STATE"]) / "images"
        return cls(
            project_dir=project_dir.resolve(),
            tracking_uri=uri,
            env=env,
            artifact=artifact_mod.ArtifactSettings.from_env(env, image_store),
        )


@dataclass(frozen=True)
class BuildResult:
    model_name: str
    model_version: str
    run_id: str
    artifact: Artifact
    serving_flavor: str
    fallback_reason: str | None
    tags: dict[str, str]

    def exported(self) -> dict[str, str]:
        return {
            "MODEL_NAME": self.model_name,
            "MODEL_VERSION": self.model_version,
            "ARTIFACT_URI": self.artifact.uri,
            "ARTIFACT_KIND": self.artifact.kind.value,
            "ARTIFACT_SHA256": self.artifact.sha256,
            "RUN_ID": self.run_id,
        }


def write_exports(path: Path, values: Mapping[str, str]) -> None:
    """``KEY=value`` lines that a shell can ``source`` (values are quoted when needed)."""
    import shlex

    path.write_text("".join(f"{key}={shlex.quote(values[key])}\n" for key in EXPORTED))


def smoke_request(config: ProjectConfig, example: Any, columns: list[str]) -> dict[str, Any]:
    """The smoke test's request body: mlops.toml's, else the logged input example (split format)."""
    if config.smoke_input is not None:
        return config.smoke_input
    if example is None:
        raise BuildError(
            "no smoke input: log an input_example with the model or set [smoke] input in mlops.toml"
        )
    frame = example if hasattr(example, "columns") else None
    if frame is None:
        raise BuildError("the logged input example is not a table; set [smoke] input in mlops.toml")
    return {"columns": columns, "data": frame[columns].astype("float64").to_numpy().tolist()}


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


class Builder:
    """One build: each step reports through ``progress``; errors are BuildError subclasses."""

    def __init__(self, settings: BuildSettings, client: Any = None, progress: Progress | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.settings = settings
        # The fluent API (register/download) and the client must talk to the same server.
        mlflow.set_tracking_uri(settings.tracking_uri)
        self.client = client or MlflowClient(tracking_uri=settings.tracking_uri)
        self.progress = progress or (lambda message: None)

    # -- steps ---------------------------------------------------------------------------------
    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else self.client.create_experiment(name)

    def _train(self, config: ProjectConfig, run_id: str, experiment_id: str) -> None:
        entry = self.settings.project_dir / config.entrypoint
        if not entry.is_file():
            raise TrainingFailedError(f"{config.entrypoint} does not exist in {self.settings.project_dir}")
        env = {
            **self.settings.env,
            "MLFLOW_TRACKING_URI": self.settings.tracking_uri,
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_ID": experiment_id,
        }
        result = subprocess.run(
            [self.settings.python, str(entry), *config.train_args],
            cwd=self.settings.project_dir,
            env=env,
            # train.py's output is for humans: keep it off stdout, which carries only KEY=value lines.
            stdout=2,
            check=False,
        )
        if result.returncode != 0:
            raise TrainingFailedError(f"{config.entrypoint} failed with exit code {result.returncode}")

    def _logged_model(self, experiment_id: str, run_id: str) -> Any:
        models = list(
            self.client.search_logged_models(
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

    def _check_metric(self, config: ProjectConfig, run_id: str) -> dict[str, float]:
        metrics = dict(self.client.get_run(run_id).data.metrics)
        if config.gate_metric not in metrics:
            raise MissingMetricError(
                f"train.py logged no metric {config.gate_metric!r} (the gate metric); logged: {sorted(metrics)}"
            )
        return metrics

    def _load(self, model_id: str, workdir: Path) -> tuple[Any, list[str], Any]:
        import mlflow
        from mlflow.models import Model

        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model_id}", dst_path=str(workdir / "logged")
            )
        )
        meta = Model.load(str(local))
        if "sklearn" not in meta.flavors:
            raise BuildError(
                f"the serving image supports scikit-learn models; this one has {sorted(meta.flavors)}"
            )
        signature = meta.signature
        if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
            raise BuildError(
                "log the model with a signature of named columns (mlflow.models.infer_signature)"
            )
        columns = list(signature.inputs.input_names())
        for spec in signature.inputs.inputs:
            if str(getattr(spec.type, "name", spec.type)) not in _NUMERIC:
                raise BuildError(
                    f"column {spec.name!r} is {spec.type}; the serving runtime takes numeric columns"
                )
        model = mlflow.sklearn.load_model(str(local))
        example = meta.load_input_example(str(local))
        return model, columns, example

    # -- the whole build -----------------------------------------------------------------------
    def run(self) -> BuildResult:
        """Run every step; on failure the MLflow run is marked FAILED and the error propagates."""
        settings = self.settings
        git: GitInfo = resolve_git_info(settings.project_dir, settings.env)
        config = load_config(settings.project_dir, git.repository or None)
        execution = settings.env.get("PIPELINE_EXECUTION", "")
        self.progress(
            f"model {config.model_name}, commit {git.commit[:12]} on {git.branch or '?'} by {git.author_email}"
        )

        experiment_id = self._experiment_id(config.model_name)
        run_tags = {
            "git_commit": git.commit,
            "git_branch": git.branch,
            "git_author": git.author_email,
            "git_repository": git.repository,
            "pipeline_execution": execution,
            "mlflow.source.git.commit": git.commit,
            "mlflow.source.git.branch": git.branch,
            "mlflow.source.git.repoURL": git.repository,
            "mlflow.runName": f"{config.model_name}-{git.commit[:8]}",
        }
        run = self.client.create_run(experiment_id, tags=run_tags)
        run_id = run.info.run_id
        self.progress(f"MLflow run {run_id} (experiment {experiment_id}); running {config.entrypoint}")
        try:
            self._train(config, run_id, experiment_id)
            metrics = self._check_metric(config, run_id)
            logged = self._logged_model(experiment_id, run_id)
            self.progress(
                f"trained: {config.gate_metric}={metrics[config.gate_metric]:.6g}; logged model {logged.model_id}"
            )
            with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp:
                result = self._package(config, git, execution, run_id, logged.model_id, Path(tmp))
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        if self.client.get_run(run_id).info.status == "RUNNING":
            self.client.set_terminated(run_id, "FINISHED")
        return result

    def _package(
        self, config: ProjectConfig, git: GitInfo, execution: str, run_id: str, model_id: str, work: Path
    ) -> BuildResult:
        import mlflow

        model, columns, example = self._load(model_id, work)
        schema = InputSchema(columns=tuple(columns), max_rows=config.max_rows)
        smoke = smoke_request(config, example, columns)
        try:
            smoke_rows = parse_request(smoke, schema)
        except InvalidInputError as exc:
            raise BuildError(f"the smoke input does not match the model signature: {exc.message}") from exc
        rows = parity_rows(config, columns, smoke_rows)
        rtol = config.parity_tolerance if config.parity_tolerance is not None else DEFAULT_RTOL
        exported: ExportResult = export_model(
            model, columns, rows, work / "model", max_rows=config.max_rows, rtol=rtol
        )
        if exported.fallback_reason:
            self.progress(f"serving flavour skops (fallback: {exported.fallback_reason})")
        else:
            assert exported.parity is not None
            self.progress(
                f"serving flavour {exported.flavor}: parity on {exported.parity.rows} rows, "
                f"max |diff| {exported.parity.max_abs_diff:.3g}"
            )

        # Before registering: a model whose artifact cannot be built or run registers nothing.
        staged = artifact_mod.stage(
            self.settings.artifact,
            exported.flavor,
            exported.model_dir,
            work,
            config.serving_artifact,
            self.progress,
        )
        self.progress(f"serving {staged.kind}: {staged.unzipped / 2**20:.0f} MiB unzipped")

        tags = {
            "git_commit": git.commit,
            "git_branch": git.branch,
            "git_author": git.author_email,
            "git_commit_time": str(git.commit_time),
            "git_repository": git.repository,
            "pipeline_execution": execution,
            "serving_flavor": exported.flavor,
            "smoke_input": json.dumps(smoke, separators=(",", ":")),
            "gate_metric": config.gate_metric,
            "gate_direction": config.gate_direction,
            "gate_tolerance": repr(config.gate_tolerance),
        }
        if exported.fallback_reason:
            tags["serving_fallback_reason"] = exported.fallback_reason[:4000]
        version = mlflow.register_model(f"models:/{model_id}", config.model_name, tags=tags).version
        version = str(version)
        self.progress(f"registered {config.model_name} version {version}")

        artifact, artifact_tags = artifact_mod.publish(
            self.settings.artifact, staged, config.model_name, version, work, self.progress
        )
        for key, value in artifact_tags.items():
            self.client.set_model_version_tag(config.model_name, version, key, value)
        return BuildResult(
            model_name=config.model_name,
            model_version=version,
            run_id=run_id,
            artifact=artifact,
            serving_flavor=exported.flavor,
            fallback_reason=exported.fallback_reason,
            tags={**tags, **artifact_tags},
        )
