"""The pipeline's two buildspecs, as Terraform gives them to the CodeBuild projects, run the way
CodeBuild runs them.

The buildspecs come out of the Terraform state of the contract fixture (each CodeBuild project's
``source.buildspec``, after ``templatefile``). Their install phases run with bash (the emulator's
phase script) in a temporary source directory holding a model project, with a fake ``aws`` that
serves the ``pipeline-src.zip`` that ``mlops-pipeline package`` builds, into a throwaway venv: the
untrusted training step installs the pipeline and then the project's ``requirements.txt`` (a tiny
local wheel here); the trusted registration step installs the pipeline only, and nothing of the
checkout can shadow a module of its pip. Local mode runs the very same files; the build commands
are one and the same.
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
from mlops_pipeline.local.stack.checkout import BUILDSPEC_PATH, TRAIN_BUILDSPEC_PATH, buildspec_text
from mlops_pipeline.packaging import BUILD_SOURCE_ZIP, build_source_zip
from tests.contract.task_definition import RenderedTask
from tests.terraform.test_trust_wiring import module_block

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.timeout(600)]
REPO_PATHS = {"this": BUILDSPEC_PATH, "train": TRAIN_BUILDSPEC_PATH}

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


@pytest.mark.parametrize(("project", "file"), [("this", "buildspec.yml"), ("train", "buildspec_train.yml")])
def test_terraform_renders_the_buildspec_files_unchanged(
    rendered_terraform: RenderedTask, project: str, file: str
) -> None:
    module_file = (REPO / "terraform" / "modules" / "pipeline" / file).read_text()
    assert rendered_terraform.buildspec(project) == module_file
    assert buildspec_text(REPO_PATHS[project]) == module_file  # what local mode provisions: the same file
    assert (
        not (REPO / "buildspec.yml").exists()
        and not (REPO / "terraform/live/local/buildspec.local.yml").exists()
    )
    # Neither root overrides the module's buildspecs.
    for root in ("aws", "local"):
        block = module_block((REPO / "terraform" / "live" / root / "main.tf").read_text(), "pipeline")
        assert re.search(r"^\s*(train_)?buildspec\s*=", block, flags=re.M) is None, root


@pytest.mark.parametrize(("project", "command"), [("this", "register"), ("train", "train")])
def test_local_mode_runs_the_aws_build_commands(
    rendered_terraform: RenderedTask, project: str, command: str
) -> None:
    aws = parse_buildspec(rendered_terraform.buildspec(project))
    local = parse_buildspec(buildspec_text(REPO_PATHS[project]))
    assert aws.phases["BUILD"] == local.phases["BUILD"]
    (first, *_) = aws.phases["BUILD"].commands
    assert shlex.split(first)[:2] == ["mlops-pipeline", command]
    assert '--train-output "s3://$ARTIFACTS_BUCKET/$TRAIN_OUTPUT_KEY"' in first


def _install(rendered_terraform: RenderedTask, project: str, tmp_path: Path) -> tuple[Path, Path]:
    """Run ``project``'s install phase as CodeBuild would; returns (the venv's bin, the checkout)."""
    build_env = {
        name: value
        for name, (kind, value) in rendered_terraform.build_environment(project).items()
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
    # A module of the author's named like one pip imports: if pip ran with the checkout on its
    # path, this would run the author's code in the install phase.
    (src / "pip").mkdir()
    (src / "pip" / "__init__.py").write_text(
        f"open({str(tmp_path / 'shadowed')!r}, 'w').write('author code ran')\nraise SystemExit(9)\n"
    )
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
    if project == "train":
        (src / "pip" / "__init__.py").unlink()  # the training step is the author's anyway
        (src / "pip").rmdir()
    _run_phase(rendered_terraform.buildspec(project), "INSTALL", env, src, tmp_path)
    assert not (tmp_path / "shadowed").exists(), "the install phase imported the checkout's pip"
    return bin_dir, src


def _installed(bin_dir: Path, name: str) -> str | None:
    check = subprocess.run(
        [str(bin_dir / "python"), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return check.stdout.strip() if check.returncode == 0 else None


def test_training_install_phase_installs_the_pipeline_then_requirements_txt(
    rendered_terraform: RenderedTask, tmp_path: Path
) -> None:
    bin_dir, _ = _install(rendered_terraform, "train", tmp_path)
    assert _installed(bin_dir, PROBE) == "0.1", "requirements.txt was not installed"
    check = subprocess.run(
        [str(bin_dir / "python"), "-c", "import mlops_pipeline; print(mlops_pipeline.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(check.stdout.strip()).is_relative_to(tmp_path / "venv"), "the pipeline is not the venv's own"
    assert (bin_dir / "mlops-pipeline").is_file()
    assert sys.executable != str(bin_dir / "python")


def test_trusted_install_phase_installs_the_pipeline_only(
    rendered_terraform: RenderedTask, tmp_path: Path
) -> None:
    bin_dir, _ = _install(rendered_terraform, "this", tmp_path)
    assert _installed(bin_dir, "mlops-pipeline") is not None
    assert (bin_dir / "mlops-pipeline").is_file()
    # The author's packages never reach the step that holds the MLflow credentials.
    assert _installed(bin_dir, PROBE) is None
