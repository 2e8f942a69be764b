"""Reproducible Lambda packages for the pipeline functions (``mlops-pipeline package``).

Two zips, each with only what its functions import:

* ``core.zip``: the ``mlops_pipeline`` package + aws-lambda-powertools + slack_sdk, for
  report, deploy, smoke_test, rollback, request_approval, expire_approval,
  slack_interactions and notify;
* ``registry.zip``: core + mlflow-skinny, for evaluate, promote and the prod rollback function
  (``rollback_prod``: a rollback by hand moves the registry's alias back); they talk to MLflow.

boto3/botocore are *not* packaged: the python3.12 Lambda runtime ships them, and the
handlers only use long-stable APIs. Leaving them out keeps the zips small and lets AWS
patch the SDK. The versions come from the project's own pins (``pyproject.toml``
``[project] dependencies``), read from the installed distribution's metadata.

For ``platform="lambda"`` pip fetches manylinux wheels of the configured architecture
(arm64 by default, or x86_64) for CPython 3.12 only (``--only-binary=:all:``), whatever the
host is; ``platform="host"`` installs the same pins for the running interpreter (what the local
emulator's Lambda runtime executes).

``placeholder.zip`` is the code Terraform creates the inference functions with, before any
model exists: ``serving/handler.py`` (the real artifacts' handler path) answering 503.

A zip is byte-for-byte reproducible: sorted entries, fixed timestamps and permissions,
no ``__pycache__``/``*.pyc``, no console scripts (their shebangs name the build dir).
``manifest.json`` lists each zip's path (relative to the manifest), sha256 (hex) and
base64 sha256 (what Terraform's ``source_code_hash`` expects).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlops_pipeline.domain.errors import PipelineError
from mlops_pipeline.model_build.wheels import ARCHITECTURES, DEFAULT_ARCHITECTURE, MANYLINUX_TAGS

Platform = Literal["lambda", "host"]

# 1980-01-01 is the earliest timestamp a zip entry can hold.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
LAMBDA_PYTHON_VERSION = "3.12"
DISTRIBUTION = "mlops-pipeline"

# Which functions run from which package (handler module names, see docs/contracts.md). The
# rollback module is in both: rollback_stage runs from core, rollback_prod from registry
# (Terraform's lambda.tf picks the package per function).
PACKAGE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "core": (
        "report",
        "deploy",
        "smoke_test",
        "rollback",
        "request_approval",
        "expire_approval",
        "slack_interactions",
        "notify",
        "git_webhook",
    ),
    "registry": ("evaluate", "promote", "rollback"),
}
# Which pinned runtime dependencies each package carries (distribution names).
PACKAGE_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "core": ("aws-lambda-powertools", "slack_sdk"),
    "registry": ("aws-lambda-powertools", "slack_sdk", "mlflow-skinny"),
}
# Never packaged: provided by the Lambda runtime.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})

_EXCLUDED_DIRS = frozenset({"__pycache__", "bin", ".pytest_cache", ".mypy_cache"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class PackagingError(PipelineError):
    """A Lambda package could not be built (pip failed, a pin is missing, bad arguments)."""


@dataclass(frozen=True)
class PackageInfo:
    """One built zip, as written to manifest.json."""

    name: str
    path: str
    sha256: str
    base64sha256: str
    size: int
    functions: tuple[str, ...]
    requirements: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "size": self.size,
            "functions": list(self.functions),
            "requirements": list(self.requirements),
        }


@dataclass(frozen=True)
class Manifest:
    platform: Platform
    packages: dict[str, PackageInfo] = field(default_factory=dict)
    # The project source for CodeBuild (`pip install <dir>[build,cli]`), when built from a checkout.
    build_source: dict[str, object] | None = None
    architecture: str = DEFAULT_ARCHITECTURE
    # The inference functions' first code (placeholder.zip): path, sha256, base64sha256.
    placeholder: dict[str, object] | None = None

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "platform": self.platform,
            "runtime": f"python{LAMBDA_PYTHON_VERSION}",
            "architecture": self.architecture,
            "packages": {name: info.as_json() for name, info in sorted(self.packages.items())},
        }
        if self.build_source is not None:
            data["build_source"] = self.build_source
        if self.placeholder is not None:
            data["placeholder"] = self.placeholder
        return data


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(names: Iterable[str], requires: Sequence[str] | None = None) -> tuple[str, ...]:
    """The project's requirement strings (e.g. ``slack_sdk==3.48.0``) for ``names``.

    ``requires`` defaults to the installed distribution's metadata (``[project] dependencies``);
    only unconditional requirements (no extras/markers) count.
    """
    if requires is None:
        try:
            requires = importlib.metadata.requires(DISTRIBUTION) or []
        except importlib.metadata.PackageNotFoundError:
            raise PackagingError(f"{DISTRIBUTION} is not installed; run `pip install -e .`") from None
    by_name: dict[str, str] = {}
    for req in requires:
        if ";" in req:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if match:
            by_name[_normalise(match.group(1))] = req.strip()
    result = []
    for name in names:
        pin = by_name.get(_normalise(name))
        if pin is None:
            raise PackagingError(f"{name} is not a runtime dependency of {DISTRIBUTION} (pyproject.toml)")
        if "==" not in pin:
            raise PackagingError(f"{pin!r} is not pinned with ==; Lambda packages must be reproducible")
        result.append(pin)
    return tuple(result)


def iter_tree(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for every file under ``root`` that belongs in a package, sorted."""
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _EXCLUDED_DIRS)
        for filename in filenames:
            if filename.endswith(_EXCLUDED_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            if path.is_symlink() and not path.exists():
                continue
            entries.append((path.relative_to(root).as_posix(), path))
    entries.sort(key=lambda item: item[0])
    yield from entries


def write_zip(files: Iterable[tuple[str, Path]], destination: Path, compresslevel: int = 9) -> None:
    """Write a byte-for-byte reproducible zip of ``files`` (archive name, source path).

    Entries are sorted by name, stamped 1980-01-01 and given 0644 (0755 when the source is
    executable), so the same content always gives the same bytes and hash (at one ``compresslevel``).
    """
    ordered = sorted(files, key=lambda item: item[0])
    names = [name for name, _ in ordered]
    if len(names) != len(set(names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise PackagingError(f"duplicate entries in package: {dupes[:5]}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(destination.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, source in ordered:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            mode = 0o755 if os.access(source, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the host is, so the attributes mean the same
            archive.writestr(info, source.read_bytes(), compresslevel=compresslevel)
    tmp.replace(destination)


def hashes(path: Path) -> tuple[str, str]:
    """(hex sha256, base64 sha256) of a file."""
    digest = hashlib.sha256(path.read_bytes()).digest()
    return digest.hex(), base64.b64encode(digest).decode("ascii")


def pip_install_command(
    requirements: Sequence[str],
    target: Path,
    platform: Platform,
    python: str = sys.executable,
    architecture: str = DEFAULT_ARCHITECTURE,
) -> list[str]:
    """The pip command that installs ``requirements`` into ``target`` for ``platform``."""
    if platform not in ("lambda", "host"):
        raise PackagingError(f"platform must be 'lambda' or 'host', not {platform!r}")
    if architecture not in ARCHITECTURES:
        raise PackagingError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target)]
    if platform == "lambda":
        for tag in MANYLINUX_TAGS[architecture]:
            cmd += ["--platform", tag]
        cmd += [
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--only-binary=:all:",
        ]
    return [*cmd, *requirements]


def _remove_runtime_provided(site: Path) -> None:
    # Dependencies of our pins may drag boto3 in; the runtime's copy is the one to use.
    for child in list(site.iterdir()):
        stem = _normalise(child.name.split("-")[0]) if child.name.endswith(".dist-info") else child.name
        if _normalise(stem) in RUNTIME_PROVIDED or child.name in RUNTIME_PROVIDED:
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


def source_dir() -> Path:
    """The directory of the installed ``mlops_pipeline`` package."""
    return Path(__file__).resolve().parent


def build_package(
    name: str,
    out_dir: Path,
    platform: Platform = "lambda",
    *,
    requirements: Sequence[str] | None = None,
    package_source: Path | None = None,
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    architecture: str = DEFAULT_ARCHITECTURE,
) -> PackageInfo:
    """Build ``<out_dir>/<name>.zip`` (``name`` in PACKAGE_FUNCTIONS) and return its manifest entry."""
    if name not in PACKAGE_FUNCTIONS:
        raise PackagingError(f"unknown package {name!r}; known: {', '.join(sorted(PACKAGE_FUNCTIONS))}")
    reqs = (
        tuple(requirements) if requirements is not None else pinned_requirements(PACKAGE_DEPENDENCIES[name])
    )
    src = package_source or source_dir()
    with tempfile.TemporaryDirectory(prefix=f"mlops-package-{name}-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        if reqs:
            cmd = pip_install_command(reqs, site, platform, architecture=architecture)
            result = runner(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise PackagingError(
                    f"pip failed for {name}.zip ({' '.join(reqs)}):\n{result.stderr[-4000:]}"
                )
        _remove_runtime_provided(site)
        target_pkg = site / src.name
        if target_pkg.exists():
            raise PackagingError(f"a dependency installed a top-level {src.name!r}; refusing to overwrite it")
        files = list(iter_tree(site))
        files += [(f"{src.name}/{rel}", path) for rel, path in iter_tree(src)]
        destination = out_dir / f"{name}.zip"
        write_zip(files, destination)
    sha_hex, sha_b64 = hashes(destination)
    return PackageInfo(
        name=name,
        path=destination.name,
        sha256=sha_hex,
        base64sha256=sha_b64,
        size=destination.stat().st_size,
        functions=PACKAGE_FUNCTIONS[name],
        requirements=reqs,
    )


def project_root(start: Path | None = None) -> Path | None:
    """The source checkout (the directory holding pyproject.toml and src/mlops_pipeline), if any."""
    here = (start or source_dir()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "mlops_pipeline").is_dir():
            return candidate
    return None


BUILD_SOURCE_ZIP = "pipeline-src.zip"
PLACEHOLDER_ZIP = "placeholder.zip"
# The inference functions' code until the first deploy: the serving handler's path, no model.
PLACEHOLDER_HANDLER = """\"\"\"Placeholder of the inference function: no model is deployed yet.\"\"\"


def handler(event, context=None):
    return {"statusCode": 503, "error": {"type": "NoModel", "message": "no model deployed yet"}}
"""


def build_placeholder_zip(out_dir: Path) -> dict[str, object]:
    """``placeholder.zip``: ``serving/handler.py`` answering 503 (Terraform creates the functions with it)."""
    with tempfile.TemporaryDirectory(prefix="mlops-placeholder-") as tmp:
        serving = Path(tmp) / "serving"
        serving.mkdir()
        (serving / "__init__.py").write_text("")
        (serving / "handler.py").write_text(PLACEHOLDER_HANDLER)
        destination = out_dir / PLACEHOLDER_ZIP
        write_zip(iter_tree(Path(tmp)), destination)
    sha_hex, sha_b64 = hashes(destination)
    return {"path": destination.name, "sha256": sha_hex, "base64sha256": sha_b64}


def build_source_zip(root: Path, out_dir: Path) -> dict[str, object]:
    """Zip the project source CodeBuild installs (pyproject, README, src/, statemachine/)."""
    files: list[tuple[str, Path]] = []
    for name in ("pyproject.toml", "README.md"):
        if (root / name).is_file():
            files.append((name, root / name))
    for sub in ("src/mlops_pipeline", "statemachine"):
        files += [(f"{sub}/{rel}", path) for rel, path in iter_tree(root / sub)]
    destination = out_dir / BUILD_SOURCE_ZIP
    write_zip(files, destination)
    sha_hex, sha_b64 = hashes(destination)
    return {"path": destination.name, "sha256": sha_hex, "base64sha256": sha_b64}


def build_all(
    out_dir: Path,
    platform: Platform = "lambda",
    names: Sequence[str] | None = None,
    *,
    requirements: Mapping[str, Sequence[str]] | None = None,
    root: Path | None = None,
    architecture: str = DEFAULT_ARCHITECTURE,
) -> Manifest:
    """Build the packages (default: all) and ``placeholder.zip``, and write ``<out_dir>/manifest.json``.

    When run from a checkout (or ``root`` is given) it also writes ``pipeline-src.zip``, the
    project source the CodeBuild project installs.
    """
    selected = list(names) if names else sorted(PACKAGE_FUNCTIONS)
    checkout = root or project_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(
        platform=platform,
        build_source=build_source_zip(checkout, out_dir) if checkout is not None else None,
        architecture=architecture,
        placeholder=build_placeholder_zip(out_dir),
    )
    for name in selected:
        reqs = requirements.get(name) if requirements is not None else None
        manifest.packages[name] = build_package(
            name, out_dir, platform, requirements=reqs, architecture=architecture
        )
    write_manifest(manifest, out_dir)
    return manifest


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    path = out_dir / "manifest.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest.as_json(), indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(out_dir: Path) -> dict[str, object]:
    """The parsed manifest.json of a build directory."""
    path = out_dir / "manifest.json"
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except FileNotFoundError:
        raise PackagingError(f"{path} not found; run `mlops-pipeline package` first") from None
    return data
