"""The image path: a pinned single-platform build of the same task root, and the local push."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.model_build import image
from mlops_pipeline.model_build.errors import BuildError


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    (root / "serving").mkdir(parents=True)
    (root / "serving/handler.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "model").mkdir()
    (root / "model/model.onnx").write_bytes(b"onnx")
    return root


def test_base_image_is_pinned_by_digest_in_one_place() -> None:
    assert re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.12@sha256:[0-9a-f]{64}", image.BASE_IMAGE)
    src = Path(image.__file__).resolve().parents[1]
    pins = [p for p in src.rglob("*.py") for _ in re.findall(r"lambda/python:[0-9.]+@sha256:", p.read_text())]
    assert pins == [Path(image.__file__).resolve()]


def test_dockerfile_only_copies_the_task_root_onto_the_pinned_base(tmp_path: Path, task_root: Path) -> None:
    context = image.write_context(tmp_path / "ctx", task_root)
    dockerfile = (context / "Dockerfile").read_text().splitlines()
    assert dockerfile == [
        f"FROM {image.BASE_IMAGE}",
        "COPY task/ ${LAMBDA_TASK_ROOT}/",
        'CMD ["serving.handler.handler"]',
    ]
    # No RUN step: nothing executes for the target architecture, so no emulation is needed.
    assert (context / "task/model/model.onnx").read_bytes() == b"onnx"


@pytest.mark.parametrize(("architecture", "platform"), [("arm64", "linux/arm64"), ("x86_64", "linux/amd64")])
def test_build_pushes_one_manifest_for_the_configured_architecture(
    tmp_path: Path, architecture: str, platform: str
) -> None:
    cmd = image.build_command(tmp_path, "repo:churn-7", architecture, tmp_path / "meta.json")
    assert cmd[:4] == ["buildx", "build", "--platform", platform]
    # Attestations would turn the push into an index, which Lambda rejects.
    assert "--provenance=false" in cmd and "--sbom=false" in cmd
    assert "type=image,name=repo:churn-7,push=true,oci-mediatypes=false" in cmd


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(BuildError, match="arm64, x86_64"):
        image.docker_platform("aarch64")


def test_tag_names_model_and_version() -> None:
    # One repository holds every model: the version alone would collide across models.
    assert image.image_tag("churn", "7") == "churn-7"
    assert image.image_tag("delivery-time", "7") != image.image_tag("churn", "7")


def test_local_push_records_the_command_and_a_content_digest(tmp_path: Path, task_root: Path) -> None:
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops/serving:churn-12"
    pushed = image.push_local(tmp_path / "images", uri, task_root)
    stored = ImageStore(tmp_path / "images").get(uri)
    assert pushed.digest == stored.digest and stored.digest.startswith("sha256:")
    assert stored.cmd == ["serving.handler.handler"]
    assert (stored.task_root / "serving/handler.py").is_file()
    other = tmp_path / "again" / "task"
    other.parent.mkdir()
    import shutil

    shutil.copytree(task_root, other)
    assert image.push_local(tmp_path / "images2", uri, other).digest == pushed.digest  # same content
