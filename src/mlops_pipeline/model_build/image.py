"""The image path of the serving artifact: the same task root on the pinned Lambda base image.

Used when the model project asks for it (``mlops.toml``: ``[serving] artifact = "image"``),
when the zip would exceed Lambda's 250 MB unzipped limit, or when the inference functions
are image functions. The Dockerfile only copies files (no ``RUN``), so building for arm64 on
any host needs no emulation; ``--platform`` comes from the configured architecture. buildx
pushes one single-platform manifest in Docker's media types: no provenance or SBOM
attestation, because with one buildx pushes an index, and Lambda rejects indexes and
manifest lists. Without Docker (local mode) the same files go to the local image store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.model_build.bundle import HANDLER
from mlops_pipeline.model_build.errors import ImageBuildError
from mlops_pipeline.model_build.wheels import check_architecture

# public.ecr.aws/lambda/python:3.12 pinned by the digest of its multi-architecture index;
# --platform selects the architecture's image in it. Refresh deliberately, with
# `crane digest public.ecr.aws/lambda/python:3.12` (the index digest, not one platform's).
BASE_IMAGE = "public.ecr.aws/lambda/python:3.12@sha256:0628ddc11919f85f4261517d356392dbbc6b3181568d87a376ae2e814464c230"
TASK_ROOT = "/var/task"
DOCKER_PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}
# Manifest media types Lambda refuses: a list of per-platform manifests instead of one image.
INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)


@dataclass(frozen=True)
class PushedImage:
    image_uri: str
    digest: str  # "sha256:<hex>"
    local_path: Path | None = None


def image_tag(model_name: str, model_version: str) -> str:
    """``<model>-<version>``: unique per model version in a repository shared by every model."""
    return f"{model_name}-{model_version}"


def docker_platform(architecture: str) -> str:
    return DOCKER_PLATFORMS[check_architecture(architecture)]


def write_context(context: Path, task_root: Path) -> Path:
    """A build context whose Dockerfile puts ``task_root`` on the base image; returns the context."""
    shutil.copytree(task_root, context / "task")
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        # Files only: no RUN step, so no emulation is needed for another architecture.
        "COPY task/ ${LAMBDA_TASK_ROOT}/\n"
        f'CMD ["{HANDLER}"]\n'
    )
    return context


def push_local(store_root: Path, image_uri: str, task_root: Path) -> PushedImage:
    """The image's filesystem into the local image store (no Docker), under ``image_uri``."""
    rootfs = task_root.parent / "rootfs"
    shutil.copytree(task_root, rootfs / TASK_ROOT.lstrip("/"))
    image = ImageStore(store_root).push(image_uri, rootfs, cmd=[HANDLER], workdir=TASK_ROOT)
    return PushedImage(image_uri=image.image_uri, digest=image.digest, local_path=image.path)


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


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageBuildError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def build_command(context: Path, image_uri: str, architecture: str, metadata: Path) -> list[str]:
    """``docker buildx build`` that pushes one single-platform Docker v2 manifest."""
    return [
        "buildx",
        "build",
        "--platform",
        docker_platform(architecture),
        "--provenance=false",
        "--sbom=false",
        "--output",
        f"type=image,name={image_uri},push=true,oci-mediatypes=false",
        "--metadata-file",
        str(metadata),
        str(context),
    ]


def push_docker(context: Path, image_uri: str, architecture: str) -> PushedImage:
    """Build and push; refuses what Lambda would refuse (an index instead of one manifest)."""
    metadata = context.parent / "image-metadata.json"
    _docker(*build_command(context, image_uri, architecture, metadata))
    digest = str(json.loads(metadata.read_text()).get("containerimage.digest") or "")
    if not digest.startswith("sha256:"):
        raise ImageBuildError(f"buildx reported no digest for {image_uri}")
    raw = json.loads(
        _docker("buildx", "imagetools", "inspect", "--raw", f"{image_uri.rsplit(':', 1)[0]}@{digest}")
    )
    if raw.get("mediaType") in INDEX_MEDIA_TYPES or "manifests" in raw:
        raise ImageBuildError(
            f"{image_uri} was pushed as an index ({raw.get('mediaType')}); Lambda needs one manifest"
        )
    return PushedImage(image_uri=image_uri, digest=digest)
