"""The Lambda packager: reproducible zips, pins, pip commands, manifest (no network)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_pipeline import packaging
from mlops_pipeline.cli.main import app

REQUIRES = [
    "boto3>=1.34",
    "aws-lambda-powertools==3.37.0",
    "slack_sdk==3.48.0",
    "mlflow-skinny==3.17.2",
    'typer>=0.12; extra == "cli"',
]


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "mod.py").write_text("y = 2\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"\0")
    (root / "pkg" / "stale.pyc").write_bytes(b"\0")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text(f"#!{root}/python\n")
    script = root / "pkg" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return root


def test_zip_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a")
    second = _tree(tmp_path / "b")
    # Different mtimes and creation order must not matter.
    os.utime(second / "pkg" / "__init__.py", (1_000_000_000, 1_000_000_000))
    packaging.write_zip(packaging.iter_tree(first), tmp_path / "one.zip")
    packaging.write_zip(reversed(list(packaging.iter_tree(second))), tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_zip_entries_sorted_stamped_and_filtered(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    packaging.write_zip(packaging.iter_tree(root), tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names == ["pkg/__init__.py", "pkg/run.sh", "pkg/sub/mod.py"]
    assert {i.date_time for i in infos} == {packaging.FIXED_DATE_TIME}
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes == {"pkg/__init__.py": 0o644, "pkg/run.sh": 0o755, "pkg/sub/mod.py": 0o644}


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "f.py"
    f.write_text("")
    with pytest.raises(packaging.PackagingError, match="duplicate"):
        packaging.write_zip([("a.py", f), ("a.py", f)], tmp_path / "x.zip")


def test_pins_come_from_the_project_dependencies() -> None:
    assert packaging.pinned_requirements(["slack-sdk", "aws_lambda_powertools"], REQUIRES) == (
        "slack_sdk==3.48.0",
        "aws-lambda-powertools==3.37.0",
    )


def test_unpinned_or_unknown_requirements_are_refused() -> None:
    with pytest.raises(packaging.PackagingError, match="not pinned"):
        packaging.pinned_requirements(["boto3"], REQUIRES)
    with pytest.raises(packaging.PackagingError, match="not a runtime dependency"):
        packaging.pinned_requirements(["typer"], REQUIRES)


def test_installed_metadata_pins_every_packaged_dependency() -> None:
    for names in packaging.PACKAGE_DEPENDENCIES.values():
        assert all("==" in r for r in packaging.pinned_requirements(names))


def test_lambda_platform_fetches_only_aarch64_cp312_wheels(tmp_path: Path) -> None:
    cmd = packaging.pip_install_command(["a==1"], tmp_path, "lambda", python="py")
    joined = " ".join(cmd)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--python-version 3.12" in joined
    assert "--implementation cp" in joined
    assert "--only-binary=:all:" in cmd
    assert cmd[-1] == "a==1"
    host = packaging.pip_install_command(["a==1"], tmp_path, "host", python="py")
    assert "--platform" not in host
    assert "--only-binary=:all:" not in host
    with pytest.raises(packaging.PackagingError):
        packaging.pip_install_command(["a==1"], tmp_path, "windows", python="py")  # type: ignore[arg-type]


class FakePip:
    """Stands in for pip: records the command and fills the target like an install would."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(cmd)
        target = Path(cmd[cmd.index("--target") + 1])
        for name in ("slack_sdk", "boto3", "botocore"):
            (target / name).mkdir()
            (target / name / "__init__.py").write_text(f"NAME = {name!r}\n")
        (target / "boto3-1.0.dist-info").mkdir()
        (target / "boto3-1.0.dist-info" / "METADATA").write_text("Name: boto3\n")
        return subprocess.CompletedProcess(cmd, self.returncode, "", "boom" if self.returncode else "")


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "mlops_pipeline"
    (src / "handlers").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "handlers" / "report.py").write_text("def handler(event, context):\n    return {}\n")
    return src


def test_build_package_bundles_source_and_drops_runtime_sdk(tmp_path: Path) -> None:
    pip = FakePip()
    info = packaging.build_package(
        "core",
        tmp_path / "out",
        "lambda",
        requirements=["slack_sdk==3.48.0"],
        package_source=_source(tmp_path),
        runner=pip,
    )
    assert pip.calls and "--platform" in pip.calls[0]
    zip_path = tmp_path / "out" / info.path
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "mlops_pipeline/handlers/report.py" in names
    assert "slack_sdk/__init__.py" in names
    assert not [n for n in names if n.startswith(("boto3", "botocore"))]
    digest = hashlib.sha256(zip_path.read_bytes()).digest()
    assert info.sha256 == digest.hex()
    assert base64.b64decode(info.base64sha256) == digest
    assert info.functions == packaging.PACKAGE_FUNCTIONS["core"]


def test_pip_failure_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(packaging.PackagingError, match=r"pip failed for core\.zip"):
        packaging.build_package(
            "core",
            tmp_path,
            "host",
            requirements=["x==1"],
            package_source=_source(tmp_path),
            runner=FakePip(returncode=1),
        )


def test_unknown_package_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(packaging.PackagingError, match="unknown package"):
        packaging.build_package("everything", tmp_path)


def test_every_handler_module_is_packaged_and_only_rollback_twice() -> None:
    modules = [m for functions in packaging.PACKAGE_FUNCTIONS.values() for m in functions]
    assert sorted(set(modules)) == sorted(
        [
            "report",
            "evaluate",
            "deploy",
            "smoke_test",
            "rollback",
            "promote",
            "request_approval",
            "expire_approval",
            "slack_interactions",
            "notify",
            "git_webhook",
        ]
    )
    # rollback_stage runs from core; rollback_prod (by hand: the registry's alias) from registry.
    assert [m for m in set(modules) if modules.count(m) > 1] == ["rollback"]
    assert packaging.PACKAGE_FUNCTIONS["registry"] == ("evaluate", "promote", "rollback")


def test_the_packages_match_what_terraform_runs_each_function_from() -> None:
    """lambda.tf's package per function: registry for evaluate, promote and rollback_prod."""
    lambda_tf = (Path(__file__).resolve().parents[3] / "terraform/modules/pipeline/lambda.tf").read_text()
    assert 'package        = e == "prod" ? "registry" : "core"' in lambda_tf
    registry_shared = re.findall(
        r'^    ([a-z_]+) = \{\n      handler += "[a-z_]+"\n      package += "registry"', lambda_tf, re.M
    )
    assert sorted(registry_shared) == ["evaluate", "promote"]


def test_manifest_round_trip(tmp_path: Path) -> None:
    info = packaging.PackageInfo("core", "core.zip", "ab" * 32, "q83v", 10, ("report",), ("a==1",))
    manifest = packaging.Manifest("lambda", {"core": info}, build_source={"path": "pipeline-src.zip"})
    packaging.write_manifest(manifest, tmp_path)
    data = packaging.read_manifest(tmp_path)
    assert data["packages"] == {"core": info.as_json()}
    assert data["build_source"] == {"path": "pipeline-src.zip"}
    assert data["runtime"] == "python3.12"
    assert json.loads((tmp_path / "manifest.json").read_text())["architecture"] == "arm64"
    with pytest.raises(packaging.PackagingError, match="run `mlops-pipeline package`"):
        packaging.read_manifest(tmp_path / "missing")


def test_build_source_zip_holds_what_codebuild_installs(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _source(root)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    (root / "statemachine").mkdir()
    (root / "statemachine" / "pipeline.asl.json").write_text("{}")
    entry = packaging.build_source_zip(root, tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out" / str(entry["path"])) as archive:
        names = archive.namelist()
    assert names == sorted(
        [
            "pyproject.toml",
            "src/mlops_pipeline/__init__.py",
            "src/mlops_pipeline/handlers/report.py",
            "statemachine/pipeline.asl.json",
        ]
    )
    assert packaging.project_root(root / "src" / "mlops_pipeline") == root.resolve()


def test_cli_rejects_an_unknown_platform(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["package", "--out", str(tmp_path), "--platform", "windows"])
    assert result.exit_code != 0
    assert not (tmp_path / "manifest.json").exists()


def test_pip_command_targets_the_configured_architecture(tmp_path: Path) -> None:
    cmd = packaging.pip_install_command(["a==1"], tmp_path, "lambda", python="py", architecture="x86_64")
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"] == [
        "manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
    ]
    with pytest.raises(packaging.PackagingError, match="architecture must be one of arm64, x86_64"):
        packaging.pip_install_command(["a==1"], tmp_path, "lambda", architecture="aarch64")


def test_placeholder_zip_answers_503_at_the_serving_handler_path(tmp_path: Path) -> None:
    entry = packaging.build_placeholder_zip(tmp_path)
    data = (tmp_path / "placeholder.zip").read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry == packaging.build_placeholder_zip(tmp_path / "again")  # reproducible
    with zipfile.ZipFile(tmp_path / "placeholder.zip") as archive:
        assert archive.namelist() == ["serving/__init__.py", "serving/handler.py"]
        namespace: dict[str, Any] = {}
        exec(compile(archive.read("serving/handler.py"), "handler.py", "exec"), namespace)  # noqa: S102
    assert namespace["handler"]({}, None)["statusCode"] == 503
