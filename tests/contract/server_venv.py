"""The MLflow server's own virtual environment, installed from docker/mlflow/requirements.lock.

Exactly what the image installs (``pip install --require-hashes --no-deps --only-binary=:all:``),
on this machine's platform: the lock carries the wheel hashes of the linux/arm64 CPython 3.12
image and of linux/x86_64 and linux/aarch64 CPython 3.11 (machines of this kind are either). Cached under ``.venv-contract/<key>/`` (gitignored),
keyed by the lock's content and the interpreter, and rebuilt when either changes; a venv whose
install did not finish is thrown away.
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import re
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


_MACHINES = {"arm64": "aarch64", "amd64": "x86_64"}  # other names of the lock's machines


def _platform() -> tuple[str, str]:
    machine = platform.machine().lower()
    return _MACHINES.get(machine, machine), f"{sys.version_info.major}.{sys.version_info.minor}"


def covered_platforms() -> set[tuple[str, str]]:
    """(machine, python major.minor) pairs the lock has wheel hashes for, from its header."""
    found = re.findall(r"^#\s+- linux/(\w+) CPython (\d+\.\d+)", LOCK.read_text(), flags=re.MULTILINE)
    return {(_MACHINES.get(arch, arch), version) for arch, version in found}


def _index_only_env() -> dict[str, str]:
    """pip with the package index alone, exactly as lock.py resolves the lock (its ``pip_env``)."""
    spec = importlib.util.spec_from_file_location("mlflow_image_lock", IMAGE_DIR / "lock.py")
    assert spec is not None and spec.loader is not None
    lock_tool = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(lock_tool)  # registered first: its dataclasses look their module up
    env: dict[str, str] = lock_tool.pip_env()
    return env


def _tail(output: str, lines: int = 25) -> str:
    # This machine's pip.conf names local indexes a fresh machine may not have: pip warns per package.
    kept = [line for line in output.splitlines() if "is ignored: it is neither a file" not in line]
    return "\n".join(kept[-lines:])


# The machine's own pip settings first (local wheel mirrors are fast), then the package index alone:
# every hash in the lock is a wheel on PyPI, so a broken or partial local mirror cannot stop the tier.
_ATTEMPTS = (("this machine's pip settings", None), ("the package index only", _index_only_env))


def ensure() -> Path:
    """Path of the venv's python, creating and installing the venv when needed.

    Raises RuntimeError naming the cause (an uncovered platform, pip's own last lines per attempt,
    the free disk space) when it cannot be installed.
    """
    machine, version = _platform()
    if (machine, version) not in covered_platforms():
        raise RuntimeError(
            f"{LOCK.relative_to(REPO)} has no wheel hashes for linux/{machine} CPython {version} "
            f"(it covers {sorted(covered_platforms())}): add a Target to docker/mlflow/lock.py and run it"
        )
    root = CACHE / key()
    python = root / "bin" / "python"
    if (root / _DONE).is_file():
        return python
    root.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for label, make_env in _ATTEMPTS:
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([_base_python(), "-m", "venv", str(root)], check=True)
        result = subprocess.run(
            [
                str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", str(LOCK),
            ],
            env=make_env() if make_env else None, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            break
        failures.append(
            f"--- pip with {label} (exit {result.returncode}):\n{_tail(result.stdout + result.stderr)}"
        )
        print(
            f"server_venv: installing the lock with {label} failed; see below if no attempt succeeds",
            file=sys.stderr,
        )
    else:
        shutil.rmtree(root, ignore_errors=True)
        free = shutil.disk_usage(CACHE).free / 2**30
        raise RuntimeError(
            f"could not install {LOCK.relative_to(REPO)} into {root} ({free:.1f} GiB free there; "
            "the venv takes about 0.9 GiB):\n" + "\n".join(failures)
        )
    # Old venvs of earlier locks are only disk space.
    for other in CACHE.iterdir():
        if other != root and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    (root / _DONE).write_text(LOCK.read_text())
    return python


if __name__ == "__main__":
    print(ensure())
