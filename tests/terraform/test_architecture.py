"""One setting, ``lambda_architecture``, drives every architecture-dependent value.

Terraform side (plan-level, mocked providers): live/local's ``tests/architecture.tftest.hcl``
plans the root with arm64 and with x86_64 and asserts the inference functions, the pipeline's
functions, the build's ``ARCHITECTURE`` and the CodeBuild machine all follow it. Python side
(here): what the build does with ``ARCHITECTURE`` (pip platform tags, the image
``--platform``) names the same machine as the CodeBuild container Terraform picks for it, and
every place that validates the setting accepts the same values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_pipeline import tf
from mlops_pipeline.model_build import artifact, image, wheels
from tests.terraform.conftest import REPO, _runner

pytestmark = pytest.mark.terraform

MODULES = REPO / "terraform" / "modules"
# The machine each architecture is, in each vocabulary the pipeline uses.
MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
DOCKER = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}
CODEBUILD_TYPE = {"arm64": "ARM_CONTAINER", "x86_64": "LINUX_CONTAINER"}


def build_machines() -> dict[str, dict[str, str]]:
    """``local.build_machines`` of the pipeline module's codebuild.tf."""
    text = (MODULES / "pipeline" / "codebuild.tf").read_text()
    rows = re.findall(r'^\s*(\w+)\s*=\s*\{\s*type\s*=\s*"([^"]+)",\s*image\s*=\s*"([^"]+)"\s*\}', text, re.M)
    return {arch: {"type": kind, "image": img} for arch, kind, img in rows}


def validated_values(path: Path, variable: str) -> list[str]:
    """The values a variable's ``contains([...], var.x)`` validation accepts."""
    block = re.search(rf'variable "{variable}" \{{(.*?)\n\}}', path.read_text(), re.S)
    assert block, f"{variable} is not declared in {path}"
    accepted = re.search(rf"contains\(\[([^\]]*)\],\s*var\.{variable}\)", block.group(1))
    assert accepted, f"{variable} in {path} has no contains([...]) validation"
    return re.findall(r'"([^"]+)"', accepted.group(1))


@pytest.mark.parametrize("architecture", wheels.ARCHITECTURES)
def test_the_build_and_terraform_name_the_same_machine(architecture: str) -> None:
    machine = MACHINE[architecture]
    # What the build does with the ARCHITECTURE Terraform puts in the CodeBuild environment.
    settings = artifact.ArtifactSettings.from_env({"ARCHITECTURE": architecture})
    assert settings.architecture == architecture
    assert all(tag.endswith(f"_{machine}") for tag in wheels.MANYLINUX_TAGS[architecture])
    assert image.docker_platform(architecture) == DOCKER[architecture]
    # The CodeBuild machine Terraform picks for it.
    chosen = build_machines()[architecture]
    assert chosen["type"] == CODEBUILD_TYPE[architecture]
    assert machine in chosen["image"]


def test_terraform_passes_the_setting_to_the_build_under_the_name_it_reads() -> None:
    text = (MODULES / "pipeline" / "codebuild.tf").read_text()
    assert re.search(r"^\s*ARCHITECTURE\s*=\s*var\.lambda_architecture\s*$", text, re.M)
    assert set(build_machines()) == set(wheels.ARCHITECTURES)


@pytest.mark.parametrize(
    ("path", "variable"),
    [
        (MODULES / "pipeline" / "variables.tf", "lambda_architecture"),
        (MODULES / "target_account" / "variables.tf", "architecture"),
        (REPO / "terraform" / "live" / "aws" / "variables.tf", "lambda_architecture"),
        (REPO / "terraform" / "live" / "local" / "variables.tf", "lambda_architecture"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.relative_to(REPO).as_posix(),
)
def test_every_validation_accepts_exactly_the_architectures_the_build_knows(
    path: Path, variable: str
) -> None:
    assert sorted(validated_values(path, variable)) == sorted(wheels.ARCHITECTURES)


def test_both_roots_hand_the_one_setting_to_every_consumer() -> None:
    for root in ("aws", "local"):
        text = (REPO / "terraform" / "live" / root / "main.tf").read_text()
        assert (
            len(re.findall(r"^\s*lambda_architecture\s*=\s*var\.lambda_architecture\s*$", text, re.M)) == 1
        ), root
        assert len(re.findall(r"^\s*architecture\s*=\s*var\.lambda_architecture\s*$", text, re.M)) == 2, root


def test_the_plan_follows_the_setting_everywhere(tf_tree: Path, terraform_bin: str) -> None:
    runner: tf.Terraform = _runner(tf_tree, terraform_bin, "live/local")
    runner.init()
    result = runner.run("test", "-filter=tests/architecture.tftest.hcl", "-no-color")
    assert re.search(r"Success! 2 passed, 0 failed", result.stdout), result.stdout[-3000:]
