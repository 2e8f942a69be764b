"""terraform fmt, validate (every example and root) and terraform test (every module)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline import tf
from tests.terraform.conftest import MODULES, REPO, ROOT_TESTS, VALIDATE_TARGETS

pytestmark = pytest.mark.terraform


def test_fmt_is_clean(terraform_bin: str) -> None:
    result = subprocess.run(
        [terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color", str(REPO / "terraform")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("target", VALIDATE_TARGETS)
def test_validate(validated: dict[str, Any], target: str) -> None:
    outcome = validated[target]
    assert outcome.ok, outcome.output


@pytest.mark.parametrize("module", MODULES)
def test_module_tests_pass(module_tests: dict[str, Any], module: str) -> None:
    outcome = module_tests[module]
    assert outcome.ok, outcome.output
    passed = re.search(r"Success! (\d+) passed, 0 failed", outcome.output)
    assert passed and int(passed.group(1)) >= 2, outcome.output


@pytest.mark.parametrize("root", ROOT_TESTS)
def test_root_tests_pass(root_tests: dict[str, Any], root: str) -> None:
    outcome = root_tests[root]
    assert outcome.ok, outcome.output
    assert re.search(r"Success! \d+ passed, 0 failed", outcome.output), outcome.output


def test_the_live_local_root_tests_its_wiring() -> None:
    assert "live/local" in ROOT_TESTS


def test_validate_catches_a_broken_configuration(tf_copy: Callable[[str], tf.Terraform]) -> None:
    """The validate step can fail: an unknown argument in a module must be reported."""
    runner = tf_copy("modules/network/examples/basic")
    main = Path(runner.workdir).parents[1] / "main.tf"
    main.write_text(main.read_text().replace("enable_dns_support   = true", "enable_dns_suport = true"))
    runner.init()
    with pytest.raises(tf.TerraformError, match="enable_dns_suport"):
        runner.validate()


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_the_standard_layout(module: str) -> None:
    base = REPO / "terraform" / "modules" / module
    for name in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "README.md",
        "examples/basic/main.tf",
    ):
        assert (base / name).is_file(), f"{module} lacks {name}"
    assert list((base / "tests").glob("*.tftest.hcl")), f"{module} has no terraform test"


def test_only_the_aws_provider_is_used() -> None:
    sources = set()
    for path in (REPO / "terraform").rglob("*.tf"):
        sources |= set(re.findall(r'source\s*=\s*"([a-z0-9-]+/[a-z0-9-]+)"', path.read_text()))
    assert sources == {"hashicorp/aws"}
