"""The model project's ``mlops.toml``: model name, gate, parity rows, smoke input, serving artifact.

Every key is optional; without the file the defaults below apply. Unknown sections or
keys are refused so that a typo does not silently fall back to a default.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_pipeline.domain.errors import ConfigError

CONFIG_FILE = "mlops.toml"
DEFAULT_GATE_METRIC = "rmse"
DEFAULT_GATE_DIRECTION = "lower"
DEFAULT_GATE_TOLERANCE = 0.0
DEFAULT_PARITY_ROWS = 200
DEFAULT_ENTRYPOINT = "train.py"
# "zip": a Lambda zip unless it exceeds Lambda's size limit; "image": always a container image.
SERVING_ARTIFACTS = ("zip", "image")
# MLflow accepts more, but a registry name also becomes part of Lambda/ECR names downstream.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

_ALLOWED: dict[str, set[str]] = {
    "model": {"name"},
    "train": {"entrypoint", "args"},
    "gate": {"metric", "direction", "tolerance"},
    "parity": {"data", "rows", "tolerance"},
    "smoke": {"input"},
    "serving": {"max_rows", "artifact", "modules", "requirements"},
}
# A project module may not take a name the serving artifact already uses (runtime, model, the
# serving set's packages): it would shadow them or be shadowed.
RESERVED_MODULES = frozenset(
    {"serving", "model", "numpy", "onnxruntime", "scipy", "sklearn", "joblib", "threadpoolctl"}
    | {"skops", "narwhals", "cloudpickle", "mlflow", "mlops_pipeline", "train", "__main__"}
)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# A requirement is a name, extras, a version specifier and a marker (PEP 508), nothing that
# points pip elsewhere: no URLs, paths or options (the trusted step downloads these wheels).
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,. -]*\])?\s*[^@/\\:]*(;.*)?$")


@dataclass(frozen=True)
class ProjectConfig:
    """Settings of one model project."""

    model_name: str
    gate_metric: str = DEFAULT_GATE_METRIC
    gate_direction: str = DEFAULT_GATE_DIRECTION
    gate_tolerance: float = DEFAULT_GATE_TOLERANCE
    entrypoint: str = DEFAULT_ENTRYPOINT
    train_args: tuple[str, ...] = ()
    parity_data: Path | None = None
    parity_rows: int = DEFAULT_PARITY_ROWS
    parity_tolerance: float | None = None
    smoke_input: dict[str, Any] | None = None
    max_rows: int = 10_000
    serving_artifact: str = "zip"
    # [serving] modules: project modules shipped in the artifact (their classes may be served).
    serving_modules: tuple[str, ...] = ()
    # [serving] requirements: extra distributions the serving artifact installs (wheels only).
    serving_requirements: tuple[str, ...] = ()
    project_dir: Path | None = field(default=None, compare=False)
    # The "section.key"s mlops.toml set (the rest are defaults, which the pipeline's policy
    # replaces, see policy.enforce); None: every field counts as set.
    explicit_keys: frozenset[str] | None = field(default=None, compare=False)


def default_model_name(project_dir: Path, repository: str | None = None) -> str:
    """The repository name (``GIT_REPOSITORY``), else the project folder's name, made registry-safe."""
    raw = (repository or "").rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or project_dir.resolve().name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.") or "model"
    return name[:63]


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{CONFIG_FILE}: [{name}] must be a table")
    unknown = set(value) - _ALLOWED[name]
    if unknown:
        raise ConfigError(
            f"{CONFIG_FILE}: unknown key {name}.{sorted(unknown)[0]}; valid: {sorted(_ALLOWED[name])}"
        )
    return value


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{CONFIG_FILE}: {key} must be a positive integer, got {value!r}")
    return value


def _non_negative(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{CONFIG_FILE}: {key} must be a number >= 0, got {value!r}")
    return float(value)


def parse_config(data: dict[str, Any], project_dir: Path, repository: str | None = None) -> ProjectConfig:
    """Validate the parsed TOML ``data`` of a project rooted at ``project_dir``."""
    unknown = set(data) - set(_ALLOWED)
    if unknown:
        raise ConfigError(f"{CONFIG_FILE}: unknown section [{sorted(unknown)[0]}]; valid: {sorted(_ALLOWED)}")
    model, train, gate = _section(data, "model"), _section(data, "train"), _section(data, "gate")
    parity, smoke, serving = _section(data, "parity"), _section(data, "smoke"), _section(data, "serving")

    name = model.get("name") or default_model_name(project_dir, repository)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{CONFIG_FILE}: model.name {name!r} must be 1-63 letters, digits, '.', '_' or '-'")
    metric = gate.get("metric", DEFAULT_GATE_METRIC)
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{CONFIG_FILE}: gate.metric must be a metric name")
    direction = gate.get("direction", DEFAULT_GATE_DIRECTION)
    if direction not in ("lower", "higher"):
        raise ConfigError(f"{CONFIG_FILE}: gate.direction must be 'lower' or 'higher', got {direction!r}")
    tolerance = _non_negative(gate.get("tolerance", DEFAULT_GATE_TOLERANCE), "gate.tolerance")

    entrypoint = train.get("entrypoint", DEFAULT_ENTRYPOINT)
    if not isinstance(entrypoint, str) or not (project_dir / entrypoint).resolve().is_relative_to(
        project_dir.resolve()
    ):
        raise ConfigError(f"{CONFIG_FILE}: train.entrypoint must be a file inside the project")
    args = train.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{CONFIG_FILE}: train.args must be a list of strings")

    parity_data: Path | None = None
    if "data" in parity:
        if not isinstance(parity["data"], str):
            raise ConfigError(f"{CONFIG_FILE}: parity.data must be a path")
        parity_data = (project_dir / parity["data"]).resolve()
        if not parity_data.is_relative_to(project_dir.resolve()):
            raise ConfigError(f"{CONFIG_FILE}: parity.data must be inside the project")
    parity_tolerance = (
        _non_negative(parity["tolerance"], "parity.tolerance") if "tolerance" in parity else None
    )

    artifact = serving.get("artifact", "zip")
    if artifact not in SERVING_ARTIFACTS:
        raise ConfigError(f"{CONFIG_FILE}: serving.artifact must be 'zip' or 'image', got {artifact!r}")

    modules = _modules(serving.get("modules", []), project_dir)
    requirements = _requirements(serving.get("requirements", []))

    smoke_input = smoke.get("input")
    if smoke_input is not None and not isinstance(smoke_input, dict):
        raise ConfigError(f"{CONFIG_FILE}: smoke.input must be a table (a request body)")

    return ProjectConfig(
        model_name=name,
        gate_metric=metric,
        gate_direction=direction,
        gate_tolerance=tolerance,
        entrypoint=entrypoint,
        train_args=tuple(args),
        parity_data=parity_data,
        parity_rows=_positive_int(parity.get("rows", DEFAULT_PARITY_ROWS), "parity.rows"),
        parity_tolerance=parity_tolerance,
        smoke_input=json.loads(json.dumps(smoke_input)) if smoke_input is not None else None,
        max_rows=_positive_int(serving.get("max_rows", 10_000), "serving.max_rows"),
        serving_artifact=artifact,
        serving_modules=modules,
        serving_requirements=requirements,
        project_dir=project_dir,
        explicit_keys=frozenset(f"{section}.{key}" for section in _ALLOWED for key in data.get(section, {})),
    )


def module_path(project_dir: Path, module: str) -> Path | None:
    """``<module>.py`` or the package ``<module>/`` at the project's root, if it is there."""
    for candidate in (project_dir / f"{module}.py", project_dir / module / "__init__.py"):
        if candidate.is_file():
            return candidate.parent if candidate.name == "__init__.py" else candidate
    return None


def _modules(value: Any, project_dir: Path) -> tuple[str, ...]:
    key = f"{CONFIG_FILE}: serving.modules"
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise ConfigError(f"{key} must be a list of module names")
    for module in value:
        if not _MODULE.match(module) or module in RESERVED_MODULES:
            raise ConfigError(
                f"{key}: {module!r} must be the name of a top-level module of the project "
                f"(a file <name>.py or a package <name>/), not one of {sorted(RESERVED_MODULES)}"
            )
        if module_path(project_dir, module) is None:
            raise ConfigError(f"{key}: the project has no {module}.py or {module}/__init__.py")
    return tuple(sorted(set(value)))


def _requirements(value: Any) -> tuple[str, ...]:
    key = f"{CONFIG_FILE}: serving.requirements"
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ConfigError(f'{key} must be a list of requirement strings (e.g. "lightgbm==4.6.0")')
    for requirement in value:
        if not _REQUIREMENT.match(requirement.strip()) or requirement.strip().startswith("-"):
            raise ConfigError(
                f"{key}: {requirement!r} must be a package name with an optional version "
                "(no URLs, paths or pip options: the build fetches published wheels only)"
            )
    return tuple(r.strip() for r in value)


def load_config(project_dir: Path, repository: str | None = None) -> ProjectConfig:
    """Read ``mlops.toml`` from ``project_dir`` (defaults when it is absent)."""
    path = project_dir / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{CONFIG_FILE} is not valid TOML: {exc}") from exc
    return parse_config(data, project_dir, repository)
