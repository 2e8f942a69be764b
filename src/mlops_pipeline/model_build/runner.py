"""The build's two steps put together: ``Registrar`` (trusted) and ``Builder`` (both, locally).

``mlops-pipeline train`` (model_build.train_step) runs the author's code without the pipeline's
keys; ``mlops-pipeline register`` (``Registrar``) registers its output; ``mlops-pipeline build``
(``Builder``) runs both in one process for a developer's machine. Also: the settings both read
from CodeBuild's environment, and the exported variables.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_pipeline.domain.models import Artifact
from mlops_pipeline.model_build import artifact as artifact_mod
from mlops_pipeline.model_build import register_step
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.git_info import GitInfo, resolve_git_info
from mlops_pipeline.model_build.train_output import MAX_TAG_VALUE
from mlops_pipeline.model_build.train_step import Trainer, TrainSettings

# What the build exports to Step Functions (docs/contracts.md).
EXPORTED = ("MODEL_NAME", "MODEL_VERSION", "ARTIFACT_URI", "ARTIFACT_KIND", "ARTIFACT_SHA256", "RUN_ID")

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


class Registrar:
    """The trusted step: verify a training output, copy its run into MLflow, register, publish."""

    def __init__(self, settings: BuildSettings, client: Any = None, progress: Progress | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.settings = settings
        # The fluent API (register_model) and the client must talk to the same server.
        mlflow.set_tracking_uri(settings.tracking_uri)
        self.client = client or MlflowClient(tracking_uri=settings.tracking_uri)
        self.progress = progress or (lambda message: None)

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self.client.get_experiment_by_name(name)
        if experiment:
            return str(experiment.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:
            # Two first builds of a new model race here (the name is unique): use the winner's.
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def run(self, train_dir: Path) -> BuildResult:
        """Register the training output in ``train_dir``; nothing is registered when a check fails."""
        import mlflow

        settings = self.settings
        git: GitInfo = resolve_git_info(settings.project_dir, settings.env)
        config = register_step.trusted_config(settings.project_dir, git, settings.env)
        execution = settings.env.get("PIPELINE_EXECUTION", "")
        self.progress(
            f"model {config.model_name}, commit {git.commit[:12]} on {git.branch or '?'} by {git.author_email}"
        )
        verified = register_step.verify(train_dir, config, self.progress)
        with tempfile.TemporaryDirectory(prefix="mlops-register-") as tmp:
            work = Path(tmp)
            # Before registering: a model whose artifact cannot be built or run registers nothing.
            staged = artifact_mod.stage(
                settings.artifact,
                verified.manifest.flavor,
                verified.export_dir,
                work,
                config.serving_artifact,
                self.progress,
            )
            self.progress(f"serving {staged.kind}: {staged.unzipped / 2**20:.0f} MiB unzipped")
            experiment_id = self._experiment_id(config.model_name)
            run_tags = register_step.lineage_run_tags(config, git, execution)
            run_id = register_step.copy_run(self.client, verified, train_dir, experiment_id, run_tags)
            self.progress(f"MLflow run {run_id} (experiment {experiment_id}) holds the training run")
            try:
                model_id = register_step.copy_logged_model(
                    self.client, train_dir, experiment_id, run_id, verified.manifest.logged_model_name
                )
                tags = register_step.model_version_tags(verified, git, execution)
                mlflow.set_tracking_uri(settings.tracking_uri)  # the fluent API is process-wide
                version = str(
                    mlflow.register_model(f"models:/{model_id}", config.model_name, tags=tags).version
                )
                self.progress(f"registered {config.model_name} version {version}")
                artifact, artifact_tags = artifact_mod.publish(
                    settings.artifact, staged, config.model_name, version, work, self.progress
                )
                for key, value in artifact_tags.items():
                    self.client.set_model_version_tag(config.model_name, version, key, value)
            except BaseException as exc:
                # Whoever opens the run in MLflow sees why the build failed, not just FAILED;
                # best effort: the build's own error is the one to raise.
                with contextlib.suppress(Exception):
                    reason = f"{type(exc).__name__}: {exc}"[:MAX_TAG_VALUE]
                    self.client.set_tag(run_id, "build_failure_reason", reason)
                self.client.set_terminated(run_id, "FAILED")
                raise
            self.client.set_terminated(run_id, "FINISHED")
        return BuildResult(
            model_name=config.model_name,
            model_version=version,
            run_id=run_id,
            artifact=artifact,
            serving_flavor=verified.manifest.flavor,
            fallback_reason=verified.manifest.fallback_reason,
            tags={**tags, **artifact_tags},
        )


class Builder:
    """Both steps in one process, for a developer's machine: train into a temporary folder, then
    register. The pipeline runs them as two CodeBuild projects (``train``, then ``register``), so
    that the author's code never runs where the MLflow credentials are."""

    def __init__(self, settings: BuildSettings, client: Any = None, progress: Progress | None = None) -> None:
        self.settings = settings
        self.registrar = Registrar(settings, client, progress)
        self.client = self.registrar.client
        self.progress = self.registrar.progress

    def run(self) -> BuildResult:
        settings = self.settings
        with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp:
            out = Path(tmp) / "train-output"
            train_settings = TrainSettings(settings.project_dir, env=settings.env, python=settings.python)
            Trainer(train_settings, self.progress).run(out)
            return self.registrar.run(out)
