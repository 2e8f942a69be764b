"""The pipeline's one buildspec, as Terraform gives it to the CodeBuild project, run the way
CodeBuild runs it.

The buildspec comes out of the Terraform state of the contract fixture (the CodeBuild project's
``source.buildspec``, after ``templatefile``). Its install phase runs with bash (the emulator's
phase script) in a temporary source directory holding a model project, with a fake ``aws`` that
serves the ``pipeline-src.zip`` that ``mlops-pipeline package`` builds, into a throwaway venv: it
must install the pipeline and then the project's ``requirements.txt`` (a tiny local wheel here).
Local mode runs the very same file; the build command is one and the same.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from mlops_pipeline.local.emulator.codebuild.buildspec import parse_buildspec, phase_script
from mlops_pipeline.local.stack.checkout import buildspec_text
from mlops_pipeline.packaging import BUILD_SOURCE_ZIP, build_source_zip
from tests.contract.task_definition import RenderedTask
from tests.terraform.test_trust_wiring import module_block

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
PROBE = "mlops-contract-probe"  # the model project's requirement: a wheel made here, nothing from PyPI
FAKE_AWS = """#!/usr/bin/env bash
# `aws s3 cp s3://<bucket>/<key> <dest> [--only-show-errors]`: the one object CodeBuild downloads.
if [ "$1 $2" = "s3 cp" ] && [ "$3" = "s3://$EXPECTED_BUCKET/$EXPECTED_KEY" ]; then
  cp "$SERVED_ZIP" "$4" && exit 0
fi
echo "fake aws: unexpected call: $*" >&2
exit 2
"""


def _probe_wheel(directory: Path) -> Path:
    """A pure-Python wheel of ``PROBE`` 0.1 (one module), written by hand."""
    name = PROBE.replace("-", "_")
    files = {
        f"{name}.py": b"VALUE = 'installed from requirements.txt'\n",
        f"{name}-0.1.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 0.1\n".encode(),
        f"{name}-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: contract\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-0.1.dist-info/RECORD,,")
    wheel = directory / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{name}-0.1.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def _throwaway_venv(directory: Path) -> Path:
    """A venv that sees this environment's third-party packages (not mlops_pipeline itself), so
    installing the pipeline needs no download of its dependencies; returns its bin directory."""
    venv.EnvBuilder(with_pip=True, symlinks=True).create(directory)
    shared = directory.parent / "shared-site"
    shared.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if (
            entry.name.startswith(("mlops_pipeline", "mlops-pipeline", "__editable__", "_mlops"))
            or entry.suffix == ".pth"
        ):
            continue
        if entry.name.startswith(("pip", "setuptools", "_distutils_hack", "pkg_resources")):
            continue  # the venv's own
        (shared / entry.name).symlink_to(entry)
    (venv_site,) = directory.glob("lib/python*/site-packages")
    (venv_site / "zz-shared.pth").write_text(f"{shared}\n")
    return directory / "bin"


def _run_phase(buildspec_text_: str, phase: str, env: dict[str, str], cwd: Path, work: Path) -> str:
    spec = parse_buildspec(buildspec_text_).phases[phase]
    script = phase_script(spec, work / f"{phase}.env", work / f"{phase}.cwd")
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=540, check=False
    )
    assert result.returncode == 0, (
        f"{phase} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def test_terraform_renders_the_buildspec_file_unchanged(rendered_terraform: RenderedTask) -> None:
    module_file = (REPO / "terraform" / "modules" / "pipeline" / "buildspec.yml").read_text()
    assert rendered_terraform.buildspec() == module_file
    assert buildspec_text() == module_file  # what local mode provisions: the same file
    assert (
        not (REPO / "buildspec.yml").exists()
        and not (REPO / "terraform/live/local/buildspec.local.yml").exists()
    )
    # Neither root overrides the module's buildspec.
    for root in ("aws", "local"):
        block = module_block((REPO / "terraform" / "live" / root / "main.tf").read_text(), "pipeline")
        assert re.search(r"^\s*buildspec\s*=", block, flags=re.M) is None, root


def test_local_mode_runs_the_aws_build_command(rendered_terraform: RenderedTask) -> None:
    aws = parse_buildspec(rendered_terraform.buildspec())
    local = parse_buildspec(buildspec_text())
    assert aws.phases["BUILD"] == local.phases["BUILD"]
    (command, *_) = aws.phases["BUILD"].commands
    assert shlex.split(command)[:2] == ["mlops-pipeline", "build"]


def test_install_phase_installs_the_pipeline_then_requirements_txt(
    rendered_terraform: RenderedTask, tmp_path: Path
) -> None:
    build_env = {
        name: value
        for name, (kind, value) in rendered_terraform.build_environment().items()
        if kind == "PLAINTEXT"
    }
    dist = tmp_path / "dist"
    dist.mkdir()
    build_source_zip(REPO, dist)  # what `mlops-pipeline package` uploads as pipeline-src.zip
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _probe_wheel(wheels)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('train')\n")
    (src / "requirements.txt").write_text(f"{PROBE}==0.1\n")
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "aws").write_text(FAKE_AWS)
    (fake_bin / "aws").chmod(0o755)
    bin_dir = _throwaway_venv(tmp_path / "venv")
    (tmp_path / "tmp").mkdir()

    env = {
        **build_env,
        "PATH": os.pathsep.join([str(fake_bin), str(bin_dir), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "CODEBUILD_SRC_DIR": str(src),
        "AWS_REGION": "us-east-1",
        "EXPECTED_BUCKET": build_env["ARTIFACTS_BUCKET"],
        "EXPECTED_KEY": build_env["PIPELINE_SOURCE_KEY"],
        "SERVED_ZIP": str(dist / BUILD_SOURCE_ZIP),
        # The model's requirement comes from the local wheel; pip may fetch only the pipeline's
        # build backend (setuptools, from its cache after the first run).
        "PIP_FIND_LINKS": str(wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    assert "MLOPS_LOCAL_STATE" not in env
    _run_phase(rendered_terraform.buildspec(), "INSTALL", env, src, tmp_path)

    python = bin_dir / "python"
    check = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m, {PROBE.replace('-', '_')}, mlops_pipeline; "
         f"print(m.version('{PROBE}'), m.version('mlops-pipeline'), mlops_pipeline.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    probe_version, _, module_file = check.stdout.split()
    assert probe_version == "0.1", "requirements.txt was not installed"
    assert Path(module_file).is_relative_to(tmp_path / "venv"), (
        f"the pipeline is not the venv's own: {module_file}"
    )
    assert (bin_dir / "mlops-pipeline").is_file()
    assert sys.executable != str(python)
