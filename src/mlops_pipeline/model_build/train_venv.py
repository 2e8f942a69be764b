"""The model project's ``requirements.txt`` for training: a venv cached by the file's hash.

The training step runs ``train.py`` with the Python of a virtual environment made with
``--system-site-packages`` (the pipeline's own libraries stay importable) into which the project's
requirements are installed; one venv per (requirements.txt sha256, Python), reused by every later
build with the same file. Without a requirements.txt, or with ``MLOPS_TRAIN_VENV=0``, train.py runs
with the pipeline's Python as it is. This is the untrusted step: pip may build sdists here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.model_build.errors import BuildError

REQUIREMENTS = "requirements.txt"
COMPLETE = "COMPLETE"  # written last: a venv folder without it is half-made and is rebuilt


@dataclass(frozen=True)
class TrainPython:
    """The interpreter that runs train.py and the extra site folder the step may import from."""

    python: str
    site: Path | None = None


def cache_root(env: Mapping[str, str]) -> Path:
    """``MLOPS_TRAIN_VENV_CACHE``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/mlops-pipeline/train-venvs``."""
    if env.get("MLOPS_TRAIN_VENV_CACHE"):
        return Path(env["MLOPS_TRAIN_VENV_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-pipeline" / "train-venvs"


def venv_key(requirements: bytes, python: str) -> str:
    """sha256 of the file and of the base interpreter (its path and version)."""
    digest = hashlib.sha256(requirements)
    digest.update(f"\0{os.path.realpath(python)}\0{sys.version}".encode())
    return digest.hexdigest()[:24]


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def training_python(
    project_dir: Path, python: str, env: Mapping[str, str], progress: Callable[[str], None] | None = None
) -> TrainPython:
    """The venv's Python when the project has a requirements.txt (made on first use), else ``python``."""
    requirements = project_dir / REQUIREMENTS
    if not requirements.is_file() or env.get("MLOPS_TRAIN_VENV", "1").lower() in ("0", "false", "off", "no"):
        return TrainPython(python)
    content = requirements.read_bytes()
    venv = cache_root(env) / venv_key(content, python)
    venv.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        # Concurrent builds of the same file wait for one another instead of racing pip.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / COMPLETE).is_file():
            say(f"installing {REQUIREMENTS} into a training venv ({venv})")
            _create(venv, requirements, python, env)
        else:
            say(f"{REQUIREMENTS}: reusing the training venv {venv}")
    return TrainPython(str(venv / "bin" / "python"), site_packages(venv))


def _site_dirs(python: str) -> list[str]:
    done = subprocess.run(
        [python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"{python} cannot report its site-packages: {done.stderr[-500:]}")
    return [str(d) for d in json.loads(done.stdout)]


def _create(venv: Path, requirements: Path, python: str, env: Mapping[str, str]) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    pip_env = {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    made = subprocess.run(
        [python, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        stdout=2,  # for humans (the build log), like train.py's output
        env=pip_env,
        check=False,
    )
    if made.returncode != 0:
        raise BuildError(f"could not create the training venv {venv} (exit code {made.returncode})")
    # --system-site-packages reaches the *base* interpreter's packages only: when the pipeline
    # itself runs in a venv, its packages are added by a .pth file (after the venv's own).
    (site_packages(venv) / "_mlops_pipeline_base.pth").write_text("\n".join(_site_dirs(python)) + "\n")
    # The base interpreter's pip installs into the venv (--python): no pip copy per venv.
    installed = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "-r",
            str(requirements),
        ],
        cwd=requirements.parent,
        stdout=2,
        env=pip_env,
        check=False,
    )
    if installed.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise BuildError(
            f"pip install -r {REQUIREMENTS} failed with exit code {installed.returncode} (its output is above)"
        )
    (venv / COMPLETE).write_text(requirements.read_text(errors="replace"))
