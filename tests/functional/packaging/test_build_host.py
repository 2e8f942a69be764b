"""Build core.zip for the host with real pip (PyPI or the pip cache), twice: same bytes."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from mlops_pipeline import packaging

pytestmark = [pytest.mark.functional, pytest.mark.slow]


def test_core_zip_builds_reproducibly_with_only_what_core_needs(tmp_path: Path) -> None:
    # A snapshot of the source: the working tree may change between the two builds.
    source = tmp_path / "src" / "mlops_pipeline"
    shutil.copytree(packaging.source_dir(), source, ignore=shutil.ignore_patterns("__pycache__"))
    first = packaging.build_package("core", tmp_path / "one", "host", package_source=source)
    second = packaging.build_package("core", tmp_path / "two", "host", package_source=source)
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(tmp_path / "one" / first.path) as archive:
        names = archive.namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert "mlops_pipeline" in top
    assert {"slack_sdk", "aws_lambda_powertools"} <= top
    assert not top & {"boto3", "botocore", "mlflow", "bin"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
