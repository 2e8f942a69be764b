"""The trusted registration step: ``mlops-pipeline register``.

Pipeline code only, with the pipeline's keys (MLflow credentials, the artifacts bucket, ECR).
It reads the training step's output as untrusted data (``train_output``), never loading the
author's pickle: the settings come from this checkout's ``mlops.toml``, the lineage from the
trigger's variables and the checkout, and the serving export is verified with the pipeline's
own loaders (onnxruntime; skops with the fixed allow-list) against the parity rows. Then it
copies the run into the MLflow server, registers the model version, packages the serving
artifact and records the lineage tags.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.model_build import project_code, skops_types, train_output
from mlops_pipeline.model_build.config import ProjectConfig, load_config
from mlops_pipeline.model_build.errors import BuildError, ExportError, MissingMetricError
from mlops_pipeline.model_build.export import copy_modules, served_predictions
from mlops_pipeline.model_build.git_info import GitInfo
from mlops_pipeline.model_build.parity import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    FLOAT32_RTOL,
    ParityReport,
    check_parity,
    float32_atol,
)
from mlops_pipeline.model_build.policy import PipelinePolicy, enforce
from mlops_pipeline.model_build.train_step import signature_columns
from mlops_pipeline.serving.runtime import CODE_DIR, MANIFEST, Manifest, ModelLoadError
from mlops_pipeline.serving.validation import InputSchema, InvalidInputError, parse_request

Progress = Callable[[str], None]
# Tags only the pipeline writes: an author's run tag with one of these names is dropped.
RESERVED_TAG_PREFIXES = ("mlflow.", "git_", "pipeline_", "artifact_", "serving_", "gate_", "image_")
RESERVED_TAGS = frozenset(
    {"smoke_input", "approved_by", "approved_at", "deployed_prod_at", "build_failure_reason"}
)
_BATCH = 100  # log_batch takes at most 1000 metrics, 100 params and 100 tags per call


def is_reserved(tag: str) -> bool:
    return tag.startswith(RESERVED_TAG_PREFIXES) or tag in RESERVED_TAGS or tag.endswith("_lambda_version")


@dataclass(frozen=True)
class Verified:
    """The training output after the trusted checks."""

    manifest: train_output.TrainManifest
    config: ProjectConfig
    export_dir: Path
    smoke: dict[str, Any]
    # None: the model holds project classes, whose parity only the training step checked.
    parity: ParityReport | None
    project_code: tuple[str, ...] = ()


def verify(directory: Path, config: ProjectConfig, progress: Progress) -> Verified:
    """Check the untrusted training output with the pipeline's rules; BuildError when it fails one."""
    from mlflow.models import Model

    manifest = train_output.TrainManifest.read(directory)
    if manifest.model_name != config.model_name:
        raise BuildError(
            f"the training step built {manifest.model_name!r}, but mlops.toml names {config.model_name!r}"
        )
    metrics = manifest.latest_metrics()
    if config.gate_metric not in metrics:
        raise MissingMetricError(
            f"train.py logged no metric {config.gate_metric!r} (the gate metric); logged: {sorted(metrics)}"
        )
    logged = directory / train_output.LOGGED_MODEL
    if not (logged / "MLmodel").is_file():
        raise BuildError("the training output holds no logged model (MLmodel)")
    columns = signature_columns(Model.load(str(logged)))  # YAML only; the pickle stays unloaded
    if tuple(columns) != manifest.columns:
        raise BuildError("the training output's columns differ from the logged model's signature")

    export_dir = directory / train_output.EXPORT
    serving = _serving_manifest(export_dir, manifest, config)
    smoke = config.smoke_input if config.smoke_input is not None else manifest.smoke_input
    if smoke is None:
        raise BuildError(
            "no smoke input: log an input_example with the model or set [smoke] input in mlops.toml"
        )
    try:
        parse_request(smoke, InputSchema(columns=serving.columns, max_rows=config.max_rows))
    except InvalidInputError as exc:
        raise BuildError(f"the smoke input does not match the model signature: {exc.message}") from exc
    if serving.project_code:
        # Loading it would run the project's code here, where the pipeline's keys are: its
        # types were checked by name against the checkout instead (_serving_manifest).
        progress(
            f"the model uses classes of the project modules {', '.join(serving.project_code)} "
            "(mlops.toml [serving] modules): shipped from this checkout; its parity was checked by "
            "the training step only, since this step never runs project code"
        )
        return Verified(manifest, config, export_dir, smoke, None, serving.project_code)
    report = _parity(directory, export_dir, serving, config)
    progress(
        f"verified the {serving.flavor} export: parity on {report.rows} rows, max |diff| {report.max_abs_diff:.3g}"
    )
    return Verified(manifest, config, export_dir, smoke, report)


def _serving_manifest(
    export_dir: Path, manifest: train_output.TrainManifest, config: ProjectConfig
) -> Manifest:
    """Re-derive what the serving runtime will trust, and the row cap from the trusted config."""
    path = export_dir / MANIFEST
    if not path.is_file():
        raise BuildError("the training output holds no serving export")
    try:
        data = json.loads(path.read_text())
        serving = Manifest.from_dict(data if isinstance(data, dict) else {})
    except (ValueError, ModelLoadError) as exc:
        raise BuildError(f"the serving export's {MANIFEST} is malformed: {exc}") from exc
    if serving.flavor != manifest.flavor or serving.file not in ("model.onnx", "model.skops"):
        raise BuildError(f"the serving export is {serving.flavor}/{serving.file}, not a known flavour")
    if serving.columns != manifest.columns:
        raise BuildError("the serving export's columns differ from the model signature")
    if not (export_dir / serving.file).is_file():
        raise BuildError(f"the serving export lacks {serving.file}")
    # Only the model file and its manifest ship from the untrusted output; project code comes
    # from this checkout, below.
    for entry in export_dir.iterdir():
        if entry.name not in (MANIFEST, serving.file):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    trusted: tuple[str, ...] = ()
    project: tuple[str, ...] = ()
    if serving.flavor == "skops":
        import skops.io

        found = skops.io.get_untrusted_types(file=export_dir / serving.file)
        trusted = skops_types.trusted_types(found, config.serving_modules)
        if skops_types.project_types(found, config.serving_modules):
            modules = project_code.declared_modules(config)
            project_code.check_defined(skops_types.project_types(found, modules), modules)
            copy_modules(modules, export_dir / CODE_DIR)
            project = tuple(sorted(modules))
        _same_scikit_learn(manifest)
    # What the runtime trusts and accepts is the pipeline's decision, whatever the file said.
    serving = replace(serving, trusted_types=trusted, max_rows=config.max_rows, project_code=project)
    # Other keys (the parity figures) stay as a record; the runtime reads only its own. The
    # serving requirements are the checkout's (artifact.stage reads them from here).
    record = {**data, **serving.to_dict(), "serving_requirements": list(config.serving_requirements)}
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    return serving


def _same_scikit_learn(manifest: train_output.TrainManifest) -> None:
    import importlib.metadata

    trained, serving = manifest.versions.get("scikit-learn"), importlib.metadata.version("scikit-learn")
    if trained and trained.split(".")[:2] != serving.split(".")[:2]:
        raise ExportError(
            f"the model was trained with scikit-learn {trained}, but the skops fallback serves it with "
            f"{serving}: pin scikit-learn=={serving} in requirements.txt (or make the model export to ONNX)"
        )


def _parity(directory: Path, export_dir: Path, serving: Manifest, config: ProjectConfig) -> ParityReport:
    """The export, loaded by the pipeline's runtime, against the trained model's recorded answers."""
    try:
        with np.load(directory / train_output.PARITY_FILE, allow_pickle=False) as data:
            rows, expected = data["rows"], data["expected"]
            expected_proba = data["expected_proba"] if "expected_proba" in data.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise BuildError(f"the training output's parity rows cannot be read: {exc}") from exc
    if rows.ndim != 2 or rows.shape[1] != len(serving.columns) or rows.dtype.kind not in "fiu":
        raise BuildError("the training output's parity rows do not match the model's columns")
    values, proba = served_predictions(export_dir, rows.astype("float64"))
    classification = serving.task == "classification"
    rtol = config.parity_tolerance if config.parity_tolerance is not None else DEFAULT_RTOL
    atol = DEFAULT_ATOL
    if _precision(export_dir) == "float32":
        # The pipeline's stated float32 tolerance (parity.py); the claim only picks between its two.
        rtol = max(rtol, FLOAT32_RTOL)
        atol = max(atol, float32_atol(expected_proba if expected_proba is not None else expected))
    report = check_parity(
        expected,
        values,
        expected_proba=expected_proba if classification else None,
        actual_proba=proba if classification and expected_proba is not None else None,
        classification=classification,
        rtol=rtol,
        atol=atol,
    )
    if not report.ok:
        raise ExportError(f"the serving export does not reproduce the trained model: {report.reason}")
    return report


def _precision(export_dir: Path) -> str:
    parity = json.loads((export_dir / MANIFEST).read_text()).get("parity")
    return str(parity.get("precision", "float64")) if isinstance(parity, dict) else "float64"


def lineage_run_tags(config: ProjectConfig, git: GitInfo, execution: str) -> dict[str, str]:
    return {
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


def copy_run(
    client: Any, verified: Verified, directory: Path, experiment_id: str, tags: dict[str, str]
) -> str:
    """Create the server's run from the training output; returns its id (FINISHED or FAILED)."""
    from mlflow.entities import Metric, Param

    manifest = verified.manifest
    author = {k: v for k, v in manifest.tags.items() if not is_reserved(k)}
    run_id = str(client.create_run(experiment_id, tags={**author, **tags}).info.run_id)
    try:
        metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in manifest.metrics]
        params = [Param(k, v) for k, v in manifest.params.items()]
        for start in range(0, max(len(metrics), len(params)), _BATCH):
            client.log_batch(
                run_id, metrics=metrics[start : start + _BATCH], params=params[start : start + _BATCH]
            )
        run_artifacts = directory / train_output.RUN_ARTIFACTS
        if run_artifacts.is_dir() and any(run_artifacts.iterdir()):
            client.log_artifacts(run_id, str(run_artifacts))
        client.set_tag(
            run_id, "dropped_author_tags", ",".join(sorted(set(manifest.tags) - set(author)))[:5000]
        )
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def copy_logged_model(client: Any, directory: Path, experiment_id: str, run_id: str, name: str) -> str:
    """The logged model's files as a READY logged model of the server's run; returns its id."""
    from mlflow.entities import LoggedModelStatus

    model = client.create_logged_model(experiment_id, name=name, source_run_id=run_id)
    client.log_model_artifacts(model.model_id, str(directory / train_output.LOGGED_MODEL))
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return str(model.model_id)


def model_version_tags(verified: Verified, git: GitInfo, execution: str) -> dict[str, str]:
    config = verified.config
    tags = {
        "git_commit": git.commit,
        "git_branch": git.branch,
        "git_author": git.author_email,
        "git_commit_time": str(git.commit_time),
        "git_repository": git.repository,
        "pipeline_execution": execution,
        "serving_flavor": verified.manifest.flavor,
        "smoke_input": json.dumps(verified.smoke, separators=(",", ":")),
        "gate_metric": config.gate_metric,
        "gate_direction": config.gate_direction,
        "gate_tolerance": repr(config.gate_tolerance),
    }
    if verified.project_code:
        tags["serving_project_code"] = ",".join(verified.project_code)
    if verified.manifest.fallback_reason:
        tags["serving_fallback_reason"] = verified.manifest.fallback_reason[:4000]
    return tags


def trusted_config(project_dir: Path, git: GitInfo, env: Mapping[str, str]) -> ProjectConfig:
    """mlops.toml from the trusted step's own checkout of the commit, within the pipeline's policy
    (the gate and serving.max_rows may be tightened there, never loosened)."""
    return enforce(load_config(project_dir, git.repository or None), PipelinePolicy.from_env(env))
