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
    requirements: Sequence[str], dest: Path, architecture: str, python_version: str = LAMBDA_PYTHON
) -> list[str]:
    """``pip download`` of exactly these pins as manylinux wheels for the Lambda platform."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    for tag in MANYLINUX_TAGS[check_architecture(architecture)]:
        cmd += ["--platform", tag]
    cmd += ["--python-version", python_version, "--implementation", "cp", "--only-binary=:all:"]
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
) -> Path:
    """The folder of the wheels for ``requirements``: from the cache, else downloaded into it."""
    target = cache_dir(cache_root, requirements, architecture, python_version)
    if (target / "COMPLETE").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_root))
    try:
        result = runner(
            download_command(requirements, staging, architecture, python_version),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BuildError(
                f"pip download of {' '.join(requirements)} for {architecture} failed:\n{result.stderr[-3000:]}"
            )
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
