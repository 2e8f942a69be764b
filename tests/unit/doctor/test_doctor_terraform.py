"""Terraform's version constraints and the two Terraform checks (version, provider mirror)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_pipeline.doctor.result import Status
from mlops_pipeline.doctor.terraform_checks import (
    Version,
    check_provider_mirror,
    check_terraform_version,
    mirror_versions,
    satisfies,
)


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("1.11.0", ">= 1.11.0", True),
        ("1.11.4", ">= 1.11.0", True),
        ("1.10.9", ">= 1.11.0", False),
        ("1.9.0", ">= 1.11", False),
        ("5.100.0", ">= 5.80.0, < 6.0.0", True),
        ("5.79.9", ">= 5.80.0, < 6.0.0", False),
        ("6.0.0", ">= 5.80.0, < 6.0.0", False),
        ("1.2.9", "~> 1.2.3", True),
        ("1.3.0", "~> 1.2.3", False),
        ("1.9.0", "~> 1.2", True),
        ("2.0.0", "~> 1.2", False),
        ("1.2.2", "~> 1.2.3", False),
        ("1.0.0", "1.0.0", True),
        ("1.0.1", "= 1.0.0", False),
        ("1.0.1", "!= 1.0.0", True),
        ("1.0.0", "> 1.0.0", False),
        ("1.0.0", "<= 1.0.0", True),
        ("v1.11.2", ">=1.11.0", True),
        # A pre-release only meets an exact match of itself.
        ("1.12.0-beta1", ">= 1.11.0", False),
        ("1.12.0-beta1", "= 1.12.0-beta1", True),
    ],
)
def test_satisfies(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


@pytest.mark.parametrize("constraint", ["", ">= x", "=> 1.0", ">= 1.2.3.4"])
def test_malformed_constraints_raise(constraint: str) -> None:
    with pytest.raises(ValueError, match=r"constraint|version"):
        satisfies("1.0.0", constraint)


def test_prerelease_sorts_before_its_release() -> None:
    assert Version.parse("1.2.0-rc1").key() < Version.parse("1.2.0").key() < Version.parse("1.2.1").key()


@given(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)))
def test_a_version_meets_its_own_bounds(parts: tuple[int, int, int]) -> None:
    version = ".".join(map(str, parts))
    assert satisfies(version, f">= {version}") and satisfies(version, f"<= {version}")
    assert not satisfies(version, f"> {version}") and not satisfies(version, f"< {version}")
    assert satisfies(version, f"~> {version}")
    bumped = f"{parts[0]}.{parts[1] + 1}.0"
    assert not satisfies(bumped, f"~> {version}")


def test_terraform_version_passes_and_fails_on_the_constraint() -> None:
    ok = check_terraform_version("/bin/terraform", {"terraform_version": "1.11.4"}, ">= 1.11.0")
    old = check_terraform_version("/bin/terraform", {"terraform_version": "1.9.8"}, ">= 1.11.0")

    assert ok.status is Status.PASS and "1.11.4" in ok.detail
    assert old.status is Status.FAIL and "1.9.8" in old.detail and "install Terraform >= 1.11.0" in old.fix


def test_terraform_missing_or_unreadable_fails() -> None:
    missing = check_terraform_version(None, None, ">= 1.11.0")
    broken = check_terraform_version("/bin/terraform", None, ">= 1.11.0", "printed no JSON")
    garbage = check_terraform_version("/bin/terraform", {"terraform_version": "dev"}, ">= 1.11.0")

    assert missing.status is Status.FAIL and "not found" in missing.detail
    assert broken.status is Status.FAIL and "printed no JSON" in broken.detail
    assert garbage.status is Status.FAIL and "unreadable" in garbage.detail


def test_no_required_version_is_a_warning() -> None:
    assert check_terraform_version("/t", {"terraform_version": "1.0.0"}, None).status is Status.WARN


def _mirror(root: Path, *entries: tuple[str, str]) -> Path:
    for version, platform in entries:
        target = root / "registry.terraform.io" / "hashicorp" / "aws" / version / platform
        target.mkdir(parents=True)
        (target / f"terraform-provider-aws_v{version}_x5").write_bytes(b"")
    return root


def test_mirror_versions_lists_versions_with_a_binary(tmp_path: Path) -> None:
    mirror = _mirror(
        tmp_path, ("5.100.0", "linux_amd64"), ("5.100.0", "darwin_arm64"), ("5.90.0", "linux_amd64")
    )
    (mirror / "registry.terraform.io" / "hashicorp" / "aws" / "5.1.0" / "linux_amd64").mkdir(parents=True)

    assert mirror_versions(mirror) == {"5.100.0": ("darwin_arm64", "linux_amd64"), "5.90.0": ("linux_amd64",)}


def test_provider_mirror_picks_the_newest_matching(tmp_path: Path) -> None:
    mirror = _mirror(
        tmp_path, ("5.90.0", "linux_amd64"), ("5.100.0", "linux_amd64"), ("6.1.0", "linux_amd64")
    )

    result = check_provider_mirror(mirror, ">= 5.80.0, < 6.0.0", "linux_amd64")

    assert result.status is Status.PASS and result.detail.startswith("5.100.0 (linux_amd64)")


def test_provider_mirror_without_a_matching_version_fails(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path, ("5.70.0", "linux_amd64"), ("6.1.0", "linux_amd64"))

    result = check_provider_mirror(mirror, ">= 5.80.0, < 6.0.0", "linux_amd64")

    assert result.status is Status.FAIL and "6.1.0, 5.70.0" in result.detail
    assert "terraform providers mirror -platform=linux_amd64" in result.fix


def test_provider_mirror_for_another_platform_fails(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path, ("5.100.0", "darwin_arm64"))

    result = check_provider_mirror(mirror, ">= 5.80.0", "linux_amd64")

    assert result.status is Status.FAIL and "nothing for linux_amd64" in result.detail


def test_empty_or_absent_mirror(tmp_path: Path) -> None:
    assert check_provider_mirror(tmp_path, ">= 5.80.0", "linux_amd64").status is Status.FAIL
    assert check_provider_mirror(None, ">= 5.80.0", "linux_amd64").status is Status.WARN
