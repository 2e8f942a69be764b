"""The serving image's build context (Dockerfile, requirements, rootfs) and the local push."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.model_build.image import assemble_context, push_local


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "exported"
    model.mkdir()
    (model / "serving.json").write_text(
        json.dumps({"flavor": "onnx", "file": "model.onnx", "columns": ["a"]})
    )
    (model / "model.onnx").write_bytes(b"onnx")
    return model


@pytest.mark.parametrize(
    ("flavor", "packages"),
    [("onnx", ["numpy", "onnxruntime"]), ("skops", ["numpy", "scipy", "scikit-learn", "skops"])],
)
def test_context_holds_only_what_serving_needs(
    tmp_path: Path, model_dir: Path, flavor: str, packages: list[str]
) -> None:
    rootfs = assemble_context(tmp_path / "ctx", model_dir, flavor, "churn", "12")
    dockerfile = (tmp_path / "ctx/Dockerfile").read_text()
    assert dockerfile.startswith("FROM public.ecr.aws/lambda/python:3.11\n")
    assert 'CMD ["serving.handler.handler"]' in dockerfile
    assert 'ENV MODEL_NAME="churn"' in dockerfile and 'ENV MODEL_VERSION="12"' in dockerfile
    requirements = (tmp_path / "ctx/requirements.txt").read_text().split()
    assert [line.split("==")[0] for line in requirements] == packages
    assert all("==" in line for line in requirements)  # pinned to what parity was checked with
    task = rootfs / "var/task"
    assert (task / "model/model.onnx").read_bytes() == b"onnx"
    assert sorted(p.name for p in (task / "serving").glob("*.py")) == [
        "__init__.py",
        "handler.py",
        "runtime.py",
        "validation.py",
    ]
    # The runtime copied into the image imports only the standard library, itself and its runtimes.
    allowed = set(sys.stdlib_module_names) | {"numpy", "onnxruntime", "skops"}
    for source in (task / "serving").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert {name.split(".")[0] for name in names} <= allowed, (source.name, names)


def test_local_push_records_command_env_and_a_content_digest(tmp_path: Path, model_dir: Path) -> None:
    rootfs = assemble_context(tmp_path / "ctx", model_dir, "onnx", "churn", "12")
    env = {"MODEL_NAME": "churn", "MODEL_VERSION": "12"}
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/mlops-models:12"
    pushed = push_local(tmp_path / "images", uri, rootfs, "onnx", env)
    image = ImageStore(tmp_path / "images").get(uri)
    assert pushed.digest == image.digest and image.digest.startswith("sha256:")
    assert image.cmd == ["serving.handler.handler"] and image.env == env
    assert (image.task_root / "serving/handler.py").is_file()
    again = push_local(tmp_path / "images2", uri, rootfs, "onnx", env)
    assert again.digest == pushed.digest  # same content, same digest
