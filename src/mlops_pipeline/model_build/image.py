"""Package the serving image: the runtime, the exported model and only what serving needs.

With a Docker engine: a Dockerfile on the AWS Lambda Python base image, ``docker build``
and ``docker push`` (tag = model version), the pushed digest is returned. Without one
(local mode): the same filesystem goes to the local image store under the same URI.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import py_compile
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.model_build.errors import ImageBuildError

BASE_IMAGE = "public.ecr.aws/lambda/python:3.11"
HANDLER = "serving.handler.handler"
TASK_ROOT = "/var/task"
SERVING_SOURCE = Path(__file__).resolve().parent.parent / "serving"

# Distributions each flavour needs at run time (pinned to what the build used for parity).
FLAVOR_PACKAGES: dict[str, tuple[str, ...]] = {
    "onnx": ("numpy", "onnxruntime"),
    "skops": ("numpy", "scipy", "scikit-learn", "skops"),
}


@dataclass(frozen=True)
class PushedImage:
    image_uri: str
    digest: str
    local_path: Path | None = None


def python_packages(flavor: str) -> list[str]:
    """``name==version`` pins for the serving packages, as installed in this environment."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in FLAVOR_PACKAGES[flavor]]


# One request at a time per Lambda environment: thread pools only cost start-up time
# (OpenBLAS spawns and sizes one per core while numpy is imported).
RUNTIME_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def image_env(model_name: str, model_version: str) -> dict[str, str]:
    """The image's environment: which model version it serves, and lean thread settings."""
    return {"MODEL_NAME": model_name, "MODEL_VERSION": model_version, **RUNTIME_ENV}


def assemble_context(
    context: Path, model_dir: Path, flavor: str, model_name: str, model_version: str
) -> Path:
    """Write the Docker build context; its ``rootfs/var/task`` is the function code. Returns rootfs."""
    rootfs = context / "rootfs"
    task_root = rootfs / TASK_ROOT.lstrip("/")
    shutil.copytree(
        SERVING_SOURCE, task_root / "serving", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(model_dir, task_root / "model")
    # Lambda's /var/task is read-only, so Python could not cache bytecode there: ship it
    # compiled (hash-checked, so the files are reproducible and never stale).
    compileall.compile_dir(
        task_root / "serving", quiet=1, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
    )
    packages = python_packages(flavor)
    (context / "requirements.txt").write_text("\n".join(packages) + "\n")
    env_lines = "".join(
        f'ENV {key}="{value}"\n' for key, value in image_env(model_name, model_version).items()
    )
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "COPY requirements.txt /tmp/requirements.txt\n"
        "RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt\n"
        f"COPY rootfs{TASK_ROOT}/ ${{LAMBDA_TASK_ROOT}}/\n"
        "RUN python -m compileall -q --invalidation-mode checked-hash ${LAMBDA_TASK_ROOT}/serving\n"
        f"{env_lines}"
        f'CMD ["{HANDLER}"]\n'
    )
    return rootfs


def docker_available() -> bool:
    """True when a Docker engine answers (not just a ``docker`` binary on PATH)."""
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def push_local(
    store_root: Path, image_uri: str, rootfs: Path, flavor: str, env: dict[str, str]
) -> PushedImage:
    image = ImageStore(store_root).push(
        image_uri, rootfs, cmd=[HANDLER], env=env, workdir=TASK_ROOT, python_packages=python_packages(flavor)
    )
    return PushedImage(image_uri=image.image_uri, digest=image.digest, local_path=image.path)


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageBuildError(f"docker {args[0]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def push_docker(context: Path, image_uri: str) -> PushedImage:
    """``docker build`` + ``docker push``; the digest is the one the registry reported."""
    _docker("build", "--platform", "linux/amd64", "--provenance=false", "-t", image_uri, str(context))
    _docker("push", image_uri)
    repo_digests = _docker("inspect", "--format", '{{join .RepoDigests "\\n"}}', image_uri).splitlines()
    repository = image_uri.rsplit(":", 1)[0]
    for entry in repo_digests:
        if entry.startswith(repository + "@"):
            return PushedImage(image_uri=image_uri, digest=entry.split("@", 1)[1])
    raise ImageBuildError(f"the registry reported no digest for {image_uri}")
