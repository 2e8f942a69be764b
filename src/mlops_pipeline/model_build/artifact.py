"""Package a model version's serving artifact: a Lambda zip in S3 (default) or a container image.

Two steps around the registration: ``stage`` lays out and compiles the task root and decides
zip or image *before* anything is registered (so a model that cannot be served is refused
without a registry entry); ``publish`` names the registered version in the manifest and
uploads the zip (one S3 object version) or pushes the image, and returns the Artifact and
its lineage tags.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlops_pipeline.domain.models import Artifact, ArtifactKind
from mlops_pipeline.model_build import bundle, wheels
from mlops_pipeline.model_build import image as image_mod
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.serving.runtime import MANIFEST

DEFAULT_KEY_PREFIX = "serving/"
PACKAGE_TYPES = ("Zip", "Image")  # the inference functions' Lambda package type
Progress = Callable[[str], None]


def default_wheel_cache() -> Path:
    """``MLOPS_WHEEL_CACHE``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/mlops-pipeline/wheels``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("MLOPS_WHEEL_CACHE") or Path(base) / "mlops-pipeline" / "wheels")


@dataclass(frozen=True)
class ArtifactSettings:
    """Where and for what the artifact is built (CodeBuild's environment sets them)."""

    architecture: str = wheels.DEFAULT_ARCHITECTURE
    platform: str = "lambda"  # "lambda": manylinux wheels for `architecture`; "host": this environment
    package_type: str | None = None  # the functions' package type; None: decided per model
    artifacts_bucket: str | None = None
    key_prefix: str = DEFAULT_KEY_PREFIX
    ecr_repository_uri: str = ""
    image_store: Path | None = None  # local image store (image path without Docker)
    wheel_cache: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], image_store: Path | None = None) -> ArtifactSettings:
        package_type = env.get("SERVING_PACKAGE_TYPE") or None
        if package_type is not None and package_type not in PACKAGE_TYPES:
            raise BuildError(f"SERVING_PACKAGE_TYPE must be Zip or Image, not {package_type!r}")
        local = bool(env.get("MLOPS_LOCAL_STATE"))
        return cls(
            architecture=wheels.check_architecture(env.get("ARCHITECTURE") or wheels.DEFAULT_ARCHITECTURE),
            # Locally the emulator runs the function with this machine's Python: package for it.
            platform=env.get("MLOPS_PACKAGE_PLATFORM") or ("host" if local else "lambda"),
            package_type=package_type,
            artifacts_bucket=env.get("ARTIFACTS_BUCKET") or None,
            key_prefix=env.get("SERVING_KEY_PREFIX") or DEFAULT_KEY_PREFIX,
            ecr_repository_uri=env.get("ECR_REPOSITORY_URI") or "",
            image_store=image_store,
            wheel_cache=Path(env["MLOPS_WHEEL_CACHE"]) if env.get("MLOPS_WHEEL_CACHE") else None,
        )

    @property
    def python_version(self) -> str:
        if self.platform == "host":
            return f"{sys.version_info.major}.{sys.version_info.minor}"
        return wheels.LAMBDA_PYTHON


@dataclass(frozen=True)
class Staged:
    """A laid-out, compiled task root and the kind of artifact it becomes."""

    task_root: Path
    flavor: str
    kind: ArtifactKind
    reason: str  # why it is an image ("" for a zip)
    unzipped: int


def serving_requirements(model_dir: Path) -> tuple[str, ...]:
    """mlops.toml's ``[serving] requirements``, as the trusted step recorded them in the manifest."""
    path = model_dir / MANIFEST
    data = json.loads(path.read_text()) if path.is_file() else {}
    value = data.get("serving_requirements") if isinstance(data, dict) else None
    return tuple(str(r) for r in value) if isinstance(value, list) else ()


def _site(
    settings: ArtifactSettings, flavor: str, site: Path, requirements: tuple[str, ...], progress: Progress
) -> frozenset[str]:
    """Install the serving set (and the serving requirements) into ``site``; the top-level names
    the requirements added."""
    site.mkdir(parents=True)
    names = wheels.requirement_names(requirements)
    if settings.platform == "host":
        wheels.copy_installed(wheels.SERVING_SETS[flavor], site)
        extra = wheels.installed_closure(names, skip=wheels.SERVING_SETS[flavor])
        wheels.copy_installed(extra, site)
        return frozenset(wheels.installed_top_level(extra))
    if settings.platform != "lambda":
        raise BuildError(f"platform must be lambda or host, not {settings.platform!r}")
    pins = wheels.pins(flavor)
    cache = settings.wheel_cache or default_wheel_cache()
    wheel_dir = wheels.fetch_wheels(pins, settings.architecture, cache, settings.python_version)
    unpacked = wheels.unpack_wheels(wheel_dir, site)
    progress(f"{settings.architecture} wheels ({wheel_dir}): {', '.join(unpacked)}")
    if not requirements:
        return frozenset()
    # Their dependencies too, held to the serving set's pins (constraints).
    extra_dir = wheels.fetch_wheels(
        requirements, settings.architecture, cache, settings.python_version, constraints=pins
    )
    progress(f"serving requirements ({extra_dir}): {', '.join(wheels.unpack_wheels(extra_dir, site))}")
    return frozenset(wheels.wheel_top_level(extra_dir, skip=wheels.SERVING_SETS[flavor]))


def decide(settings: ArtifactSettings, prefer: str, unzipped: int) -> tuple[ArtifactKind, str]:
    """Zip or image, and why an image; BuildError when the functions cannot run what is needed."""
    if settings.package_type == "Image":
        return ArtifactKind.IMAGE, "the inference functions are image functions"
    reason = ""
    if prefer == "image":
        reason = 'mlops.toml asks for it ([serving] artifact = "image")'
    elif unzipped > bundle.ZIP_LIMIT_BYTES:
        reason = f"{unzipped / 2**20:.0f} MiB unzipped exceeds Lambda's zip limit of 250 MiB"
    if not reason:
        return ArtifactKind.ZIP, ""
    if settings.package_type == "Zip":
        raise BuildError(
            f"this model needs a container image ({reason}), but the inference functions are zip "
            'functions: set serving_package_type = "Image" in Terraform (it re-creates them)'
        )
    return ArtifactKind.IMAGE, reason


def stage(
    settings: ArtifactSettings, flavor: str, model_dir: Path, work: Path, prefer: str, progress: Progress
) -> Staged:
    """Runtime + model + the serving set for the target platform, compiled, and zip or image."""
    requirements = serving_requirements(model_dir)
    extra = _site(settings, flavor, work / "site", requirements, progress)
    task_root = bundle.assemble(work / "task", work / "site", model_dir)
    bundle.check_top_level(task_root, flavor, extra)
    if not bundle.compile_bytecode(task_root, settings.python_version):
        progress(
            f"no bytecode shipped: this is Python {sys.version.split()[0]}, the artifact's is {settings.python_version}"
        )
    unzipped = bundle.tree_size(task_root)
    if unzipped > bundle.ZIP_LIMIT_BYTES and prefer != "image" and settings.package_type != "Image":
        freed = bundle.drop_dependency_bytecode(task_root)
        if freed:
            unzipped -= freed
            progress(f"dependencies' bytecode left out ({freed / 2**20:.0f} MiB) to stay a zip")
    kind, reason = decide(settings, prefer, unzipped)
    return Staged(task_root, flavor, kind, reason, unzipped)


def _upload(settings: ArtifactSettings, path: Path, key: str, sha256: str, s3_client: Any) -> str:
    if not settings.artifacts_bucket:
        raise BuildError("ARTIFACTS_BUCKET is not set: the zip artifact has nowhere to go")
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    with path.open("rb") as body:
        response = s3_client.put_object(
            Bucket=settings.artifacts_bucket, Key=key, Body=body, Metadata={"sha256": sha256}
        )
    version = str(response.get("VersionId") or "")
    if not version or version == "null":
        # Deploys name one object version; an unversioned bucket cannot promise that.
        raise BuildError(f"s3://{settings.artifacts_bucket} is not versioned: no object version for {key}")
    return version


def publish(
    settings: ArtifactSettings,
    staged: Staged,
    model_name: str,
    model_version: str,
    work: Path,
    progress: Progress,
    s3_client: Any = None,
) -> tuple[Artifact, dict[str, str]]:
    """Name the version in the artifact, then upload the zip or push the image; (artifact, tags)."""
    bundle.name_model(staged.task_root, model_name, model_version)
    if staged.kind is ArtifactKind.ZIP:
        name = f"{model_name}-{model_version}.zip"
        level = bundle.LOCAL_ZIP_COMPRESSLEVEL if settings.platform == "host" else bundle.ZIP_COMPRESSLEVEL
        written = bundle.write_zip(staged.task_root, work / name, level)
        key = f"{settings.key_prefix}{model_name}/{name}"
        version = _upload(settings, written.path, key, written.sha256, s3_client)
        uri = f"s3://{settings.artifacts_bucket}/{key}?versionId={quote(version, safe='')}"
        progress(
            f"zip {uri}: {written.size / 2**20:.1f} MiB ({written.unzipped / 2**20:.0f} MiB unzipped), sha256 {written.sha256}"
        )
        artifact = Artifact(ArtifactKind.ZIP, uri, written.sha256)
        return artifact, {**_tags(artifact), "artifact_s3_version": version}
    return _push_image(settings, staged, model_name, model_version, work, progress)


def _push_image(
    settings: ArtifactSettings,
    staged: Staged,
    model_name: str,
    model_version: str,
    work: Path,
    progress: Progress,
) -> tuple[Artifact, dict[str, str]]:
    if not settings.ecr_repository_uri:
        raise BuildError("ECR_REPOSITORY_URI is not set: the image has nowhere to go")
    uri = f"{settings.ecr_repository_uri}:{image_mod.image_tag(model_name, model_version)}"
    progress(f"serving image ({staged.reason})")
    if settings.image_store is not None:
        pushed = image_mod.push_local(settings.image_store, uri, staged.task_root)
        progress(f"image {uri} written to the local image store {pushed.local_path}")
    elif image_mod.docker_available():
        context = image_mod.write_context(work / "context", staged.task_root)
        progress(
            f"docker buildx build --platform {image_mod.docker_platform(settings.architecture)} + push {uri}"
        )
        pushed = image_mod.push_docker(context, uri, settings.architecture)
    else:
        raise BuildError(
            "the image path needs a Docker engine: CodeBuild runs one in privileged mode, which "
            'serving_package_type = "Image" turns on'
        )
    artifact = Artifact(ArtifactKind.IMAGE, pushed.image_uri, pushed.digest.removeprefix("sha256:"))
    progress(f"image digest {pushed.digest}")
    return artifact, {**_tags(artifact), "image_uri": pushed.image_uri, "image_digest": pushed.digest}


def _tags(artifact: Artifact) -> dict[str, str]:
    return {
        "artifact_kind": artifact.kind.value,
        "artifact_uri": artifact.uri,
        "artifact_sha256": artifact.sha256,
    }
