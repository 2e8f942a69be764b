"""Fixtures of the Terraform tier: a copy of the tree, a runner per target, results in parallel.

Terraform writes ``.terraform/`` and ``.terraform.lock.hcl`` next to the configuration, so
every command runs on a copy of ``terraform/`` (plus ``statemachine/``, which the pipeline
module renders) in a temporary directory, with its own ``TF_DATA_DIR``. The slow steps
(init + validate, ``terraform test``) run two at a time (the machine has two cores) once
per session; each parametrized test then asserts on its target's result.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_pipeline import tf
from tests.ci import unavailable

REPO = Path(__file__).resolve().parents[2]
# Every module under terraform/modules (found on disk, so a new module is tested without a list to edit).
MODULES = tuple(sorted(p.parent.name for p in (REPO / "terraform" / "modules").glob("*/main.tf")))
VALIDATE_TARGETS = tuple(f"modules/{m}/examples/basic" for m in MODULES) + tf.ROOTS
# Roots with terraform tests of their own (the wiring between modules, e.g. who trusts whom).
ROOT_TESTS = tuple(r for r in tf.ROOTS if list((REPO / "terraform" / r / "tests").glob("*.tftest.hcl")))
WORKERS = int(os.environ.get("TF_TEST_WORKERS", "2"))


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output: str


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    binary = tf.find_terraform()
    if binary is None:
        unavailable("terraform is not installed (needs Terraform >= 1.11 on PATH or TERRAFORM=...)")
    return binary


@pytest.fixture(scope="session")
def tf_tree(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str) -> Path:
    """A scratch copy of terraform/ and statemachine/ laid out as in the repository."""
    root = tmp_path_factory.mktemp("tf-tree")
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
    shutil.copytree(REPO / "terraform", root / "terraform", ignore=ignore)
    shutil.copytree(REPO / "statemachine", root / "statemachine")
    return root


def _runner(tree: Path, binary: str, target: str) -> tf.Terraform:
    data = tree / ".tfdata" / target.replace("/", "__")
    return tf.Terraform(tree / "terraform" / target, binary=binary, data_dir=data)


def _run_all(targets: tuple[str, ...], step: Callable[[str], str]) -> dict[str, Outcome]:
    def guarded(target: str) -> Outcome:
        try:
            return Outcome(True, step(target))
        except tf.TerraformError as exc:
            return Outcome(False, str(exc))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip(targets, pool.map(guarded, targets), strict=True))


@pytest.fixture(scope="session")
def validated(tf_tree: Path, terraform_bin: str) -> dict[str, Outcome]:
    """init -backend=false (+ -plugin-dir when a mirror exists) and validate, per target."""

    def step(target: str) -> str:
        runner = _runner(tf_tree, terraform_bin, target)
        runner.init()
        return str(runner.validate())

    return _run_all(VALIDATE_TARGETS, step)


@pytest.fixture(scope="session")
def module_tests(tf_tree: Path, terraform_bin: str) -> dict[str, Outcome]:
    """``terraform test`` (mock provider) per module."""

    def step(module: str) -> str:
        runner = _runner(tf_tree, terraform_bin, f"modules/{module}")
        runner.init()
        return runner.test().stdout

    return _run_all(MODULES, step)


@pytest.fixture(scope="session")
def root_tests(tf_tree: Path, terraform_bin: str) -> dict[str, Outcome]:
    """``terraform test`` per root that has tests (its providers stubbed or offline)."""

    def step(root: str) -> str:
        runner = _runner(tf_tree, terraform_bin, root)
        runner.init()
        return runner.test().stdout

    return _run_all(ROOT_TESTS, step)


@pytest.fixture
def tf_copy(tmp_path: Path, terraform_bin: str) -> Callable[[str], tf.Terraform]:
    """A fresh private copy for tests that change files; returns a runner factory."""
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
    shutil.copytree(REPO / "terraform", tmp_path / "terraform", ignore=ignore)
    shutil.copytree(REPO / "statemachine", tmp_path / "statemachine")
    return lambda target: _runner(tmp_path, terraform_bin, target)
