"""The zip path: wheels for the configured platform, the task root, zip or image, the S3 upload."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.domain.models import ArtifactKind
from mlops_pipeline.model_build import artifact, bundle, wheels
from mlops_pipeline.model_build.errors import BuildError


def test_download_is_the_manylinux_wheels_of_the_lambda_platform(tmp_path: Path) -> None:
    cmd = wheels.download_command(["numpy==2.4.6", "onnxruntime==1.32.0"], tmp_path, "arm64")
    assert cmd[1:4] == ["-m", "pip", "download"]
    flags = cmd[cmd.index("--platform") : cmd.index("--no-deps")]
    assert flags == [
        "--platform",
        "manylinux2014_aarch64",
        "--platform",
        "manylinux_2_28_aarch64",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]
    assert cmd[-2:] == ["numpy==2.4.6", "onnxruntime==1.32.0"]
    x86 = wheels.download_command(["numpy==2.4.6"], tmp_path, "x86_64")
    assert [x86[i + 1] for i, a in enumerate(x86) if a == "--platform"] == [
        "manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
    ]


def test_serving_sets_are_pinned_to_what_is_installed() -> None:
    pins = wheels.pins("onnx")
    assert [p.split("==")[0] for p in pins] == ["numpy", "onnxruntime"]
    assert all(p.split("==")[1] for p in pins)
    assert {"scikit-learn", "scipy", "skops", "joblib", "threadpoolctl"} <= set(wheels.SERVING_SETS["skops"])
    assert wheels.allowed_top_level("onnx") == {"serving", "model", "numpy", "numpy.libs", "onnxruntime"}


class FakePip:
    """Stands in for ``pip download``: writes one empty wheel per pin into --dest."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        for pin in cmd[cmd.index("--dest") + 2 :]:
            name, version = pin.split("==")
            with zipfile.ZipFile(dest / f"{name}-{version}-cp312-cp312-manylinux_2_28_aarch64.whl", "w") as w:
                w.writestr(f"{name}/__init__.py", "")
        return subprocess.CompletedProcess(cmd, self.returncode, "", "no matching distribution")


def test_wheels_are_downloaded_once_per_set_and_then_come_from_the_cache(tmp_path: Path) -> None:
    pip = FakePip()
    first = wheels.fetch_wheels(["a==1", "b==2"], "arm64", tmp_path, runner=pip)
    again = wheels.fetch_wheels(["b==2", "a==1"], "arm64", tmp_path, runner=pip)
    assert first == again and len(pip.calls) == 1
    assert sorted(p.name.split("-")[0] for p in first.glob("*.whl")) == ["a", "b"]
    # Another architecture or another pin is another set.
    assert wheels.fetch_wheels(["a==1", "b==2"], "x86_64", tmp_path, runner=pip) != first
    assert wheels.fetch_wheels(["a==1", "b==3"], "arm64", tmp_path, runner=pip) != first
    assert len(pip.calls) == 3


def test_a_failed_download_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="pip download of a==1 for arm64 failed"):
        wheels.fetch_wheels(["a==1"], "arm64", tmp_path, runner=FakePip(returncode=1))
    assert list(tmp_path.iterdir()) == []


def test_unpacking_a_wheel_keeps_the_library_and_drops_scripts_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    with zipfile.ZipFile(tmp_path / "w/pkg-1-py3-none-any.whl", "w") as wheel:
        wheel.writestr("pkg/__init__.py", "X = 1\n")
        wheel.writestr("pkg-1.dist-info/METADATA", "Name: pkg\n")
        wheel.writestr("pkg-1.data/platlib/pkg_native.so", b"\x7fELF")
        wheel.writestr("pkg-1.data/scripts/pkg-cli", "#!/bin/sh\n")
        wheel.writestr("../escape.py", "")
    site = tmp_path / "site"
    assert wheels.unpack_wheels(tmp_path / "w", site) == ["pkg-1-py3-none-any.whl"]
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == ["pkg-1.dist-info/METADATA", "pkg/__init__.py", "pkg_native.so"]
    assert not (tmp_path / "escape.py").exists()


def settings(**kwargs: Any) -> artifact.ArtifactSettings:
    return artifact.ArtifactSettings(**kwargs)


@pytest.mark.parametrize(
    ("package_type", "prefer", "size", "kind"),
    [
        (None, "zip", 10, ArtifactKind.ZIP),
        (None, "image", 10, ArtifactKind.IMAGE),
        (None, "zip", bundle.ZIP_LIMIT_BYTES + 1, ArtifactKind.IMAGE),
        ("Zip", "zip", bundle.ZIP_LIMIT_BYTES, ArtifactKind.ZIP),
        ("Image", "zip", 10, ArtifactKind.IMAGE),  # image functions run images only
    ],
)
def test_zip_unless_the_project_the_size_or_the_functions_need_an_image(
    package_type: str | None, prefer: str, size: int, kind: ArtifactKind
) -> None:
    assert artifact.decide(settings(package_type=package_type), prefer, size)[0] is kind


@pytest.mark.parametrize(("prefer", "size"), [("image", 10), ("zip", bundle.ZIP_LIMIT_BYTES + 1)])
def test_an_image_for_zip_functions_is_refused_with_the_fix(prefer: str, size: int) -> None:
    with pytest.raises(BuildError, match='set serving_package_type = "Image"'):
        artifact.decide(settings(package_type="Zip"), prefer, size)


def test_settings_come_from_the_build_environment(tmp_path: Path) -> None:
    aws = artifact.ArtifactSettings.from_env(
        {"ARCHITECTURE": "x86_64", "ARTIFACTS_BUCKET": "b", "SERVING_PACKAGE_TYPE": "Zip"}
    )
    assert (aws.architecture, aws.platform, aws.package_type, aws.artifacts_bucket) == (
        "x86_64",
        "lambda",
        "Zip",
        "b",
    )
    assert aws.python_version == "3.12"
    local = artifact.ArtifactSettings.from_env({"MLOPS_LOCAL_STATE": str(tmp_path)})
    assert (local.architecture, local.platform) == ("arm64", "host")
    with pytest.raises(BuildError, match="architecture must be one of arm64, x86_64"):
        artifact.ArtifactSettings.from_env({"ARCHITECTURE": "aarch64"})
    with pytest.raises(BuildError, match="SERVING_PACKAGE_TYPE must be Zip or Image"):
        artifact.ArtifactSettings.from_env({"SERVING_PACKAGE_TYPE": "zip"})


def task(tmp_path: Path, extra: str | None = None) -> Path:
    site, model = tmp_path / "site", tmp_path / "model"
    (site / "numpy").mkdir(parents=True)
    (site / "numpy/__init__.py").write_text("")
    (site / "numpy-2.4.6.dist-info").mkdir()
    if extra:
        (site / extra).mkdir()
    model.mkdir()
    (model / "serving.json").write_text(
        json.dumps({"flavor": "onnx", "file": "model.onnx", "columns": ["a"]})
    )
    (model / "model.onnx").write_bytes(b"onnx")
    return bundle.assemble(tmp_path / "task", site, model)


def test_the_task_root_holds_the_runtime_the_model_and_the_serving_set_only(tmp_path: Path) -> None:
    root = task(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["model", "numpy", "numpy-2.4.6.dist-info", "serving"]
    assert (root / "serving/handler.py").is_file() and not list(root.glob("serving/__pycache__"))
    bundle.check_top_level(root, "onnx")
    with pytest.raises(BuildError, match=r"beyond the serving set: \['pandas'\]"):
        bundle.check_top_level(task(tmp_path / "more", extra="pandas"), "onnx")


def test_the_zip_is_reproducible_and_names_the_model_version(tmp_path: Path) -> None:
    root = task(tmp_path)
    bundle.name_model(root, "churn", "7")
    assert bundle.compile_bytecode(root, "3.12") is False or (root / "serving/__pycache__").is_dir()
    one = bundle.write_zip(root, tmp_path / "one.zip")
    two = bundle.write_zip(root, tmp_path / "two.zip")
    assert one.sha256 == two.sha256 == hashlib.sha256((tmp_path / "one.zip").read_bytes()).hexdigest()
    manifest = json.loads(zipfile.ZipFile(one.path).read("model/serving.json"))
    assert (manifest["model_name"], manifest["model_version"]) == ("churn", "7")
    assert one.unzipped == bundle.tree_size(root)


class FakeS3:
    def __init__(self, version: str | None = "v.1+x") -> None:
        self.version = version
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        kwargs["Body"] = kwargs["Body"].read()
        self.puts.append(kwargs)
        return {"VersionId": self.version} if self.version else {}


def test_the_zip_goes_to_one_object_version_named_by_model_and_version(tmp_path: Path) -> None:
    root = task(tmp_path)
    staged = artifact.Staged(root, "onnx", ArtifactKind.ZIP, "", bundle.tree_size(root))
    s3 = FakeS3()
    published, tags = artifact.publish(
        settings(artifacts_bucket="art"), staged, "churn", "7", tmp_path, lambda _: None, s3_client=s3
    )
    put = s3.puts[0]
    assert (put["Bucket"], put["Key"]) == ("art", "serving/churn/churn-7.zip")
    assert published.uri == "s3://art/serving/churn/churn-7.zip?versionId=v.1%2Bx"
    assert published.s3_location.version_id == "v.1+x"
    assert published.sha256 == hashlib.sha256(put["Body"]).hexdigest() == put["Metadata"]["sha256"]
    assert tags == {
        "artifact_kind": "zip",
        "artifact_uri": published.uri,
        "artifact_sha256": published.sha256,
        "artifact_s3_version": "v.1+x",
    }
    assert zipfile.ZipFile(io.BytesIO(put["Body"])).read("model/model.onnx") == b"onnx"


def test_an_unversioned_bucket_is_refused(tmp_path: Path) -> None:
    root = task(tmp_path)
    staged = artifact.Staged(root, "onnx", ArtifactKind.ZIP, "", 1)
    with pytest.raises(BuildError, match="is not versioned"):
        artifact.publish(
            settings(artifacts_bucket="art"), staged, "churn", "7", tmp_path, print, s3_client=FakeS3(None)
        )


def test_the_fallback_drops_dependency_bytecode_rather_than_become_an_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_site(
        settings: artifact.ArtifactSettings, flavor: str, site: Path, requirements: Any, progress: Any
    ) -> frozenset[str]:
        (site / "numpy").mkdir(parents=True)
        (site / "numpy/core.py").write_text("X = 1\n" * 2000)
        return frozenset()

    model = tmp_path / "model"
    model.mkdir()
    (model / "serving.json").write_text(
        json.dumps({"flavor": "onnx", "file": "model.onnx", "columns": ["a"]})
    )
    monkeypatch.setattr(artifact, "_site", fake_site)
    host = artifact.ArtifactSettings(platform="host")
    roomy = artifact.stage(host, "onnx", model, tmp_path / "a", "zip", print)
    assert list(roomy.task_root.glob("numpy/__pycache__/*.pyc"))  # fits: everything compiled
    # Now the compiled tree is just over the limit, the source tree under it.
    monkeypatch.setattr(bundle, "ZIP_LIMIT_BYTES", roomy.unzipped - 1)
    notes: list[str] = []
    tight = artifact.stage(host, "onnx", model, tmp_path / "b", "zip", notes.append)
    assert tight.kind is ArtifactKind.ZIP
    assert not list(tight.task_root.glob("numpy/__pycache__")), "the dependency's pycs go first"
    assert list(tight.task_root.glob("serving/__pycache__/handler.*.pyc")), "the runtime's stay"
    assert tight.unzipped == bundle.tree_size(tight.task_root) <= bundle.ZIP_LIMIT_BYTES
    assert any("bytecode left out" in n for n in notes)
