"""Terraform checks: the binary's version against the root's ``required_version``, and a
``hashicorp/aws`` in the provider mirror that satisfies the root's constraint.

Version constraints follow Terraform's syntax: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``,
``~>`` (pessimistic: ``~> 1.2`` is ``>= 1.2, < 2.0``; ``~> 1.2.3`` is ``>= 1.2.3, < 1.3.0``),
joined by commas; a pre-release only satisfies an exact ``=`` of itself.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.doctor.result import CheckResult, failed, passed, warned

TERRAFORM = "Terraform version"
PROVIDER = "AWS provider"
AWS_PROVIDER_PATH = Path("registry.terraform.io") / "hashicorp" / "aws"

_VERSION = re.compile(r"^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_CONSTRAINT = re.compile(r"^(>=|<=|!=|~>|=|>|<)?\s*(\S+)$")


@dataclass(frozen=True)
class Version:
    release: tuple[int, int, int]
    prerelease: str = ""
    segments: int = 3  # how many release numbers the text gave (for ~>)

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a version: {text!r}")
        numbers = [int(n) for n in match.group(1).split(".")]
        if len(numbers) > 3:
            raise ValueError(f"not a version: {text!r}")
        padded = [*numbers, 0, 0, 0][:3]
        return cls((padded[0], padded[1], padded[2]), match.group(2) or "", len(numbers))

    def key(self) -> tuple[tuple[int, int, int], int, str]:
        # 1.2.0-beta1 < 1.2.0
        return self.release, 0 if self.prerelease else 1, self.prerelease

    def __str__(self) -> str:
        text = ".".join(str(n) for n in self.release)
        return f"{text}-{self.prerelease}" if self.prerelease else text


def _pessimistic_upper(target: Version) -> tuple[int, int, int]:
    if target.segments <= 2:  # ~> 1 and ~> 1.2: the next major
        return target.release[0] + 1, 0, 0
    return target.release[0], target.release[1] + 1, 0


def satisfies(version: str | Version, constraint: str) -> bool:
    """Whether ``version`` meets every comma-separated part of ``constraint`` (ValueError if malformed)."""
    have = version if isinstance(version, Version) else Version.parse(version)
    parts = [p.strip() for p in constraint.split(",") if p.strip()]
    if not parts:
        raise ValueError("empty version constraint")
    for part in parts:
        match = _CONSTRAINT.match(part)
        if not match:
            raise ValueError(f"not a version constraint: {part!r}")
        op, target = match.group(1) or "=", Version.parse(match.group(2))
        if have.prerelease and not (op == "=" and have.key() == target.key()):
            return False
        a, b = have.key(), target.key()
        ok = {
            "=": a == b,
            "!=": a != b,
            ">": a > b,
            ">=": a >= b,
            "<": a < b,
            "<=": a <= b,
            "~>": a >= b and have.release < _pessimistic_upper(target),
        }[op]
        if not ok:
            return False
    return True


def host_platform() -> str:
    """Terraform's name of this machine's platform (``linux_amd64``, ``darwin_arm64`` ...)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{'windows' if sys.platform.startswith('win') else sys.platform}_{arch}"


def terraform_version_info(binary: str, timeout: float = 60) -> tuple[dict[str, Any] | None, str]:
    """``terraform version -json`` as a dict, or None and why not."""
    try:
        result = subprocess.run(
            [binary, "version", "-json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{binary} version -json could not run ({type(exc).__name__})"
    try:
        data = json.loads(result.stdout)
    except ValueError:
        first = (result.stderr or result.stdout).strip().splitlines()[:1]
        return None, f"{binary} version -json printed no JSON ({first[0] if first else 'no output'})"
    if not isinstance(data, dict):
        return None, f"{binary} version -json printed no JSON object"
    return data, ""


def check_terraform_version(
    binary: str | None, info: Mapping[str, Any] | None, required: str | None, error: str = ""
) -> CheckResult:
    """The found binary's version against the root's ``required_version``."""
    install = (
        "install Terraform {} (https://developer.hashicorp.com/terraform/install), or point TERRAFORM at it"
    )
    wanted = required or "(no required_version found)"
    if binary is None:
        return failed(TERRAFORM, "terraform not found on PATH (nor at $TERRAFORM)", install.format(wanted))
    if info is None:
        return failed(TERRAFORM, error or f"{binary}: no version", install.format(wanted))
    raw = str(info.get("terraform_version") or "")
    try:
        version = Version.parse(raw)
    except ValueError:
        return failed(TERRAFORM, f"{binary} reports an unreadable version {raw!r}", install.format(wanted))
    if required is None:
        return warned(
            TERRAFORM,
            f"{version} at {binary}; the root declares no required_version",
            "run the doctor with --root pointing at terraform/live/aws",
        )
    try:
        ok = satisfies(version, required)
    except ValueError as exc:
        return warned(TERRAFORM, f"{version}; cannot read required_version: {exc}", "check versions.tf")
    if not ok:
        return failed(
            TERRAFORM, f"{version} at {binary} does not satisfy {required}", install.format(required)
        )
    return passed(TERRAFORM, f"{version} at {binary} satisfies {required}")


def mirror_versions(plugin_dir: Path) -> dict[str, tuple[str, ...]]:
    """``hashicorp/aws`` versions in a filesystem mirror: version -> platforms with a provider binary."""
    found: dict[str, list[str]] = {}
    base = plugin_dir / AWS_PROVIDER_PATH
    if not base.is_dir():
        return {}
    for binary in sorted(base.glob("*/*/terraform-provider-aws_*")):
        platform_dir = binary.parent
        found.setdefault(platform_dir.parent.name, []).append(platform_dir.name)
    return {version: tuple(sorted(set(platforms))) for version, platforms in found.items()}


def _sorted_versions(versions: Mapping[str, tuple[str, ...]]) -> list[str]:
    def key(text: str) -> tuple[int, tuple[tuple[int, int, int], int, str]]:
        try:
            return 1, Version.parse(text).key()
        except ValueError:
            return 0, ((0, 0, 0), 0, text)

    return sorted(versions, key=key, reverse=True)


def check_provider_mirror(plugin_dir: Path | None, constraint: str | None, platform_name: str) -> CheckResult:
    """A ``hashicorp/aws`` for this platform in the mirror that satisfies the root's constraint."""
    wanted = constraint or "(no constraint found)"
    if plugin_dir is None:
        return warned(
            PROVIDER,
            f"no provider mirror (TF_PLUGIN_DIR unset, none found): terraform init downloads hashicorp/aws {wanted}",
            "allow access to registry.terraform.io, or fill a mirror with "
            "`terraform providers mirror DIR` (in terraform/live/aws) and set TF_PLUGIN_DIR=DIR",
        )
    versions = mirror_versions(plugin_dir)
    fix = (
        f"add a hashicorp/aws {wanted} for {platform_name} to the mirror "
        f"(`terraform providers mirror -platform={platform_name} {plugin_dir}` in terraform/live/aws), "
        "or set TF_PLUGIN_DIR= (empty) to download from the registry"
    )
    if not versions:
        return failed(PROVIDER, f"mirror {plugin_dir} holds no hashicorp/aws provider", fix)
    ordered = _sorted_versions(versions)
    if constraint is None:
        return warned(PROVIDER, f"mirror {plugin_dir} holds {', '.join(ordered)}; no constraint found", fix)
    matching: list[str] = []
    for version in ordered:
        try:
            if satisfies(version, constraint):
                matching.append(version)
        except ValueError as exc:
            return warned(PROVIDER, f"cannot read the constraint {constraint!r}: {exc}", "check versions.tf")
    usable = [v for v in matching if platform_name in versions[v]]
    if usable:
        return passed(PROVIDER, f"{usable[0]} ({platform_name}) in {plugin_dir} satisfies {constraint}")
    if matching:
        other = ", ".join(f"{v} ({'/'.join(versions[v])})" for v in matching)
        return failed(PROVIDER, f"mirror {plugin_dir} has {other} but nothing for {platform_name}", fix)
    return failed(
        PROVIDER, f"mirror {plugin_dir} holds {', '.join(ordered)}; none satisfies {constraint}", fix
    )
