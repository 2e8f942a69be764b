"""The serving artifact's files, and the reproducible Lambda zip made of them.

The task root (``LAMBDA_TASK_ROOT`` on Lambda) holds ``serving/`` (the runtime, copied as-is),
``model/`` (the exported model; its manifest names the model version) and the serving set's
packages at the top level, as ``pip install --target`` lays them out. The zip path zips this
folder; the image path copies it to the image's ``/var/task``: both run the same files.
"""

from __future__ import annotations

import compileall
import hashlib
import json
import os
import py_compile
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline import packaging
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.wheels import allowed_top_level
from mlops_pipeline.serving.runtime import MANIFEST

HANDLER = "serving.handler.handler"
SERVING_SOURCE = Path(__file__).resolve().parent.parent / "serving"
# Lambda's limit for a function's code (and layers), unzipped; above it only an image will do.
ZIP_LIMIT_BYTES = 250 * 1024 * 1024
# Deflate levels: for Lambda close to level 9's size in half its time; for the local emulator
# (the host build, never uploaded to AWS) speed: a fifth of level 6's time for 12 % more bytes.
ZIP_COMPRESSLEVEL = 6
LOCAL_ZIP_COMPRESSLEVEL = 1


@dataclass(frozen=True)
class ServingZip:
    """A written serving zip: where, its sha256 (hex) and its sizes."""

    path: Path
    sha256: str
    size: int
    unzipped: int


def assemble(task_root: Path, site: Path, model_dir: Path) -> Path:
    """Lay out the task root: the packages of ``site``, the runtime and the model."""
    shutil.copytree(site, task_root, dirs_exist_ok=True)
    for own in ("serving", "model"):
        if (task_root / own).exists():
            raise BuildError(f"a serving dependency installs a top-level {own!r}; refusing to overwrite it")
    shutil.copytree(
        SERVING_SOURCE, task_root / "serving", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(model_dir, task_root / "model")
    return task_root


def name_model(task_root: Path, model_name: str, model_version: str) -> None:
    """Record the registered name and version in the manifest (the runtime answers with them)."""
    path = task_root / "model" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update({"model_name": model_name, "model_version": model_version})
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def compile_bytecode(task_root: Path, python_version: str) -> bool:
    """Ship compiled bytecode when this interpreter is the artifact's Python; whether it did.

    ``/var/task`` is read-only on Lambda, so Python could not cache what it compiles and would
    compile every module on every cold start. Hash-checked pycs stay valid whatever the file
    times are (a zip stores 1980-01-01) and are the same bytes on every build. A file that does
    not compile (a test fixture of a dependency, say) is left as source: only its import fails.
    """
    if f"{sys.version_info.major}.{sys.version_info.minor}" != python_version:
        return False
    compileall.compile_dir(
        task_root, quiet=2, workers=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    return True


def drop_dependency_bytecode(task_root: Path) -> int:
    """Remove the dependencies' pycs (the runtime's stay); the bytes freed.

    The fallback set's bytecode (scipy, scikit-learn) adds about a fifth to its size, enough to
    cross Lambda's zip limit: better a slower first import than an image.
    """
    freed = 0
    for cache in sorted(task_root.rglob("__pycache__")):
        if cache.relative_to(task_root).parts[0] == "serving":
            continue
        freed += tree_size(cache)
        shutil.rmtree(cache)
    return freed


def tree_size(root: Path) -> int:
    """Bytes of every file below ``root`` (what Lambda counts as the unzipped size)."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def check_top_level(task_root: Path, flavor: str, extra: frozenset[str] = frozenset()) -> None:
    """BuildError if the task root holds a top-level entry outside the flavour's serving set and
    ``extra`` (what mlops.toml's serving requirements install)."""
    allowed = allowed_top_level(flavor) | extra
    beyond = sorted(
        p.name for p in task_root.iterdir() if p.name not in allowed and not p.name.endswith(".dist-info")
    )
    if beyond:
        raise BuildError(f"the serving artifact would hold packages beyond the serving set: {beyond}")


def write_zip(task_root: Path, destination: Path, compresslevel: int = ZIP_COMPRESSLEVEL) -> ServingZip:
    """The task root as a byte-for-byte reproducible zip (bytecode included)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(task_root):
        dirnames.sort()
        for filename in filenames:
            path = Path(dirpath) / filename
            files.append((path.relative_to(task_root).as_posix(), path))
    packaging.write_zip(files, destination, compresslevel=compresslevel)
    digest = hashlib.sha256()
    with destination.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return ServingZip(destination, digest.hexdigest(), destination.stat().st_size, tree_size(task_root))
