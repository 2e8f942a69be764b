"""The MLflow server's own virtual environment, installed from docker/mlflow/requirements.lock.

Exactly what the image installs (``pip install --require-hashes --no-deps --only-binary=:all:``),
on this machine's platform: the lock carries the wheel hashes of both the linux/arm64 CPython
3.12 image and linux/x86_64 CPython 3.11. Cached under ``.venv-contract/<key>/`` (gitignored),
keyed by the lock's content and the interpreter, and rebuilt when either changes; a venv whose
install did not finish is thrown away.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "docker" / "mlflow"
LOCK = IMAGE_DIR / "requirements.lock"
CACHE = REPO / ".venv-contract"
_DONE = ".installed"


def _base_python() -> str:
    """The interpreter behind the running venv (a venv made from a venv would chain them)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def key() -> str:
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update(f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()[:16]


def ensure() -> Path:
    """Path of the venv's python, creating and installing the venv when needed."""
    root = CACHE / key()
    python = root / "bin" / "python"
    if (root / _DONE).is_file():
        return python
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_base_python(), "-m", "venv", str(root)], check=True)
    subprocess.run(
        [
            str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", str(LOCK),
        ],
        check=True,
    )  # fmt: skip
    # Old venvs of earlier locks are only disk space.
    for other in CACHE.iterdir():
        if other != root and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    (root / _DONE).write_text(LOCK.read_text())
    return python


if __name__ == "__main__":
    print(ensure())
