"""The serving runtime's dependencies: which distributions, for which platform, from where.

Only the serving set of the model's flavour goes into the artifact, pinned to the versions
installed here (the ones the build checked parity with). For AWS, ``pip download`` fetches
manylinux wheels for the configured architecture and the Lambda runtime's CPython, whatever
the build host is (no compiler, no Docker, no emulation); the wheels are cached on disk by
set. For the local emulator the installed distributions of this environment are copied (the
host platform, which is what the emulator's Lambda runtime executes).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from mlops_pipeline.model_build.errors import BuildError

LAMBDA_PYTHON = "3.12"  # the inference functions' runtime: python3.12
ARCHITECTURES = ("arm64", "x86_64")
DEFAULT_ARCHITECTURE = "arm64"
# pip platform tags per Lambda architecture; Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
MANYLINUX_TAGS: dict[str, tuple[str, ...]] = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}

# Distributions per serving flavour: what the runtime imports and what those import on load.
SERVING_SETS: dict[str, tuple[str, ...]] = {
    "onnx": ("numpy", "onnxruntime"),
    # scikit-learn 1.9 imports narwhals and joblib imports cloudpickle when they are imported.
    "skops": (
        "numpy",
        "scipy",
        "scikit-learn",
        "joblib",
        "threadpoolctl",
        "skops",
        "narwhals",
        "cloudpickle",
    ),
}
# The top-level names each distribution installs; an artifact holds these, the runtime
# (``serving``), the model (``model``) and ``*.dist-info`` folders, and nothing else.
TOP_LEVEL: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy", "numpy.libs"),
    "onnxruntime": ("onnxruntime",),
    "scipy": ("scipy", "scipy.libs"),
    "scikit-learn": ("sklearn", "scikit_learn.libs"),
    "joblib": ("joblib",),
    "threadpoolctl": ("threadpoolctl.py",),
    "skops": ("skops",),
    "narwhals": ("narwhals",),
    "cloudpickle": ("cloudpickle",),
}
OWN_TOP_LEVEL = ("serving", "model")

Runner = Callable[..., subprocess.CompletedProcess[str]]


def check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        raise BuildError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")
    return architecture


def allowed_top_level(flavor: str) -> frozenset[str]:
    """Every top-level name a serving artifact of ``flavor`` may hold (besides ``*.dist-info``)."""
    return frozenset(OWN_TOP_LEVEL).union(*(TOP_LEVEL[name] for name in SERVING_SETS[flavor]))


def pins(flavor: str) -> tuple[str, ...]:
    """``name==version`` of the flavour's serving set, as installed in this environment."""
    try:
        return tuple(f"{name}=={importlib.metadata.version(name)}" for name in SERVING_SETS[flavor])
    except importlib.metadata.PackageNotFoundError as exc:
        raise BuildError(f"{exc.name} is not installed: install mlops-pipeline[build]") from exc


def download_command(
    requirements: Sequence[str],
    dest: Path,
    architecture: str,
    python_version: str = LAMBDA_PYTHON,
    constraints: Path | None = None,
) -> list[str]:
    """``pip download`` of exactly these pins as manylinux wheels for the Lambda platform; with
    ``constraints`` (mlops.toml's serving requirements) their dependencies too, within those pins."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    for tag in MANYLINUX_TAGS[check_architecture(architecture)]:
        cmd += ["--platform", tag]
    cmd += ["--python-version", python_version, "--implementation", "cp", "--only-binary=:all:"]
    if constraints is not None:
        return [*cmd, "--constraint", str(constraints), "--dest", str(dest), *requirements]
    # The set is complete by construction (SERVING_SETS): no resolver, no extra distributions.
    return [*cmd, "--no-deps", "--dest", str(dest), *requirements]


def cache_dir(cache_root: Path, requirements: Sequence[str], architecture: str, python_version: str) -> Path:
    """The cache folder of one wheel set: keyed by architecture, Python and the exact pins."""
    key = json.dumps([architecture, python_version, sorted(requirements)]).encode()
    return (
        cache_root
        / f"{architecture}-cp{python_version.replace('.', '')}-{hashlib.sha256(key).hexdigest()[:16]}"
    )


def fetch_wheels(
    requirements: Sequence[str],
    architecture: str,
    cache_root: Path,
    python_version: str = LAMBDA_PYTHON,
    runner: Runner = subprocess.run,
    constraints: Sequence[str] = (),
) -> Path:
    """The folder of the wheels for ``requirements``: from the cache, else downloaded into it
    (with their dependencies, held to ``constraints``, when constraints are given)."""
    target = cache_dir(
        cache_root, [*requirements, *(f"-c {c}" for c in constraints)], architecture, python_version
    )
    if (target / "COMPLETE").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_root))
    try:
        constraint_file = None
        if constraints:
            constraint_file = staging / "constraints.txt"
            constraint_file.write_text("\n".join(constraints) + "\n")
        result = runner(
            download_command(requirements, staging, architecture, python_version, constraint_file),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BuildError(
                f"pip download of {' '.join(requirements)} for {architecture} failed:\n{result.stderr[-3000:]}"
            )
        if constraint_file is not None:
            constraint_file.unlink()
        # Written last: a folder without it is an interrupted download and is never used.
        (staging / "COMPLETE").write_text("\n".join(requirements) + "\n")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "COMPLETE").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # a concurrent build filled it first
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _site_path(name: str) -> str | None:
    """Where a wheel entry lands in site-packages (``*.data/purelib|platlib`` unwrapped), or None."""
    parts = PurePosixPath(name).parts
    if not parts or name.endswith("/") or ".." in parts or PurePosixPath(name).is_absolute():
        return None
    if parts[0].endswith(".data"):
        # Scripts, headers and data files are not importable: only the library schemes are kept.
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return "/".join(parts[2:])
        return None
    return name


def unpack_wheels(wheel_dir: Path, site: Path) -> list[str]:
    """Install every wheel of ``wheel_dir`` into ``site`` (a wheel is a zip of its files); the names."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise BuildError(f"no wheels in {wheel_dir}")
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                rel = _site_path(info.filename)
                if rel is None:
                    continue
                target = site / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
                mode = (info.external_attr >> 16) & 0o777
                target.chmod(0o755 if mode & 0o111 else 0o644)
    return [wheel.name for wheel in wheels]


def copy_installed(names: Iterable[str], site: Path) -> None:
    """Copy the installed files of these distributions (their RECORD) into ``site``, no bytecode."""
    for name in names:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            parts = PurePosixPath(str(file)).parts
            # Console scripts live outside site-packages ("../../bin"); caches are rebuilt here.
            if ".." in parts or "__pycache__" in parts or str(file).endswith((".pyc", ".pyo")):
                continue
            source = Path(str(dist.locate_file(file)))
            if not source.is_file():
                continue
            target = site / PurePosixPath(str(file))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


PROVIDED = frozenset(_canonical(n) for names in SERVING_SETS.values() for n in names)


def requirement_names(requirements: Iterable[str]) -> list[str]:
    """The distribution names of mlops.toml's serving requirements; BuildError for one the
    pipeline provides itself (the serving set is pinned to what the build checked parity with)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for line in requirements:
        try:
            name = _canonical(Requirement(line).name)
        except InvalidRequirement as exc:
            raise BuildError(
                f"mlops.toml serving.requirements: {line!r} is not a requirement: {exc}"
            ) from exc
        if name in PROVIDED:
            raise BuildError(
                f"mlops.toml serving.requirements: {name} is part of the pipeline's serving set, which "
                "it pins to the versions the export was checked with; leave it out"
            )
        names.append(name)
    return names


def wheel_top_level(wheel_dir: Path, skip: Iterable[str] = ()) -> set[str]:
    """The top-level names the wheels of ``wheel_dir`` install (``*.dist-info`` left out), except
    those of the distributions in ``skip``."""
    skipped = {_canonical(n) for n in skip}
    top: set[str] = set()
    for wheel in wheel_dir.glob("*.whl"):
        if _canonical(wheel.name.split("-")[0]) in skipped:
            continue
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                rel = _site_path(name)
                if rel is not None and not rel.split("/")[0].endswith(".dist-info"):
                    top.add(rel.split("/")[0])
    return top


def installed_closure(names: Iterable[str], skip: Iterable[str]) -> list[str]:
    """``names`` and the distributions they require (transitively) as installed here, minus
    ``skip``; BuildError for one that is not installed (local mode copies installed packages)."""
    from packaging.requirements import Requirement

    skipped = {_canonical(n) for n in skip}
    todo, seen = [_canonical(n) for n in names], set[str]()
    while todo:
        name = todo.pop()
        if name in seen or name in skipped:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise BuildError(
                f"serving requirement {name} is not installed here: local mode copies the installed "
                "package into the artifact; install it into the environment that runs the build"
            ) from exc
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_canonical(requirement.name))
    return sorted(seen)


def installed_top_level(names: Iterable[str]) -> set[str]:
    """The top-level names these installed distributions hold (``*.dist-info`` left out)."""
    top: set[str] = set()
    for name in names:
        for file in importlib.metadata.distribution(name).files or []:
            first = PurePosixPath(str(file)).parts[0]
            if first != ".." and not first.endswith(".dist-info") and first != "__pycache__":
                top.add(first)
    return top
