#!/usr/bin/env python3
"""Regenerate requirements.lock from requirements.in for every platform the image's packages run on.

For each target (the Fargate image: linux/arm64 CPython 3.12; the contract tier on this kind of
machine: linux/x86_64 or linux/aarch64 CPython 3.11) pip resolves requirements.in without installing anything
(``pip install --dry-run --report --platform ... --python-version ... --only-binary=:all:``)
against the package index alone (no machine-local pip.conf, find-links or constraints). The
target with the oldest Python is resolved first and its pins constrain the others, so every
target gets the same versions (the ones the oldest Python can still install); the
lock then holds one ``name==version --hash=... --hash=...`` line per package with the wheel
hash of each target (one hash when the wheel is the same, e.g. ``py3-none-any``). A package
that only some targets need gets an environment marker naming those targets.

    python docker/mlflow/lock.py            # rewrite docker/mlflow/requirements.lock
    python docker/mlflow/lock.py --check    # exit 1 if the lock differs from a fresh resolution

Install with ``pip install --require-hashes --no-deps --only-binary=:all: -r requirements.lock``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS_IN = HERE / "requirements.in"
LOCK = HERE / "requirements.lock"
# glibc of the base images: python:3.12.8-slim-bookworm (Debian 12) and this Debian 12 machine.
GLIBC_MINOR = 36


@dataclass(frozen=True)
class Target:
    label: str
    arch: str  # manylinux architecture suffix
    python_version: str  # major.minor
    marker: str  # PEP 508 marker that selects this target

    def platforms(self) -> list[str]:
        """Every manylinux tag a glibc 2.GLIBC_MINOR system accepts, newest first."""
        tags = [f"manylinux_2_{minor}_{self.arch}" for minor in range(GLIBC_MINOR, 16, -1)]
        tags.append(f"manylinux2014_{self.arch}")
        if self.arch == "x86_64":
            tags += [f"manylinux2010_{self.arch}", f"manylinux1_{self.arch}"]
        return tags


TARGETS = (
    Target(
        "linux/arm64 CPython 3.12 (the Fargate image)",
        "aarch64",
        "3.12",
        'platform_machine == "aarch64" and python_version == "3.12"',
    ),
    Target(
        "linux/x86_64 CPython 3.11 (the contract tier, tests/contract)",
        "x86_64",
        "3.11",
        'platform_machine == "x86_64" and python_version == "3.11"',
    ),
    # Machines of this kind are x86_64 or aarch64: the contract tier runs on either.
    Target(
        "linux/aarch64 CPython 3.11 (the contract tier on an arm64 machine)",
        "aarch64",
        "3.11",
        'platform_machine == "aarch64" and python_version == "3.11"',
    ),
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_env() -> dict[str, str]:
    """The index (and its certificate) only: no machine-local pip.conf, find-links or constraints
    (also how tests/contract/server_venv.py installs the lock when the machine's settings fail)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in _PIP_KEEP}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


_PIP_KEEP = frozenset({"PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_PROXY"})


def resolve(target: Target, constraints: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """{canonical name: (version, sha256 of the chosen wheel)} for one target."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--disable-pip-version-check", "--report", str(report),
            "--implementation", "cp", "--python-version", target.python_version,
            "--only-binary=:all:", "-r", str(REQUIREMENTS_IN),
        ]  # fmt: skip
        for platform in target.platforms():
            cmd += ["--platform", platform]
        if constraints:
            pins = Path(tmp) / "constraints.txt"
            pins.write_text("".join(f"{name}=={version}\n" for name, version in sorted(constraints.items())))
            cmd += ["-c", str(pins)]
        subprocess.run(cmd, check=True, env=pip_env())
        data = json.loads(report.read_text())
    resolved: dict[str, tuple[str, str]] = {}
    for item in data["install"]:
        url = item["download_info"]["url"]
        if not url.endswith(".whl"):
            sys.exit(f"lock.py: {url} is not a wheel")
        sha256 = item["download_info"]["archive_info"]["hashes"]["sha256"]
        resolved[canonical(item["metadata"]["name"])] = (item["metadata"]["version"], sha256)
    return resolved


def render(per_target: list[dict[str, tuple[str, str]]]) -> str:
    lines = [
        "# Generated by docker/mlflow/lock.py from requirements.in: do not edit by hand.",
        "# One line per package with the wheel hash of every target it is installed on:",
        *(f"#   - {target.label}" for target in TARGETS),
        "# Install: pip install --require-hashes --no-deps --only-binary=:all: -r requirements.lock",
    ]
    names = sorted({name for resolved in per_target for name in resolved})
    for name in names:
        present = [(t, r[name]) for t, r in zip(TARGETS, per_target, strict=True) if name in r]
        versions = {version for _, (version, _) in present}
        if len(versions) != 1:  # the constraints make this impossible; guard anyway
            sys.exit(f"lock.py: {name} resolves to different versions per target: {sorted(versions)}")
        hashes = sorted({sha256 for _, (_, sha256) in present})
        marker = ""
        if len(present) != len(TARGETS):
            marker = " ; " + " or ".join(f"({t.marker})" for t, _ in present)
        lines.append(f"{name}=={versions.pop()}{marker} \\")
        lines += [f"    --hash=sha256:{h} \\" for h in hashes[:-1]]
        lines.append(f"    --hash=sha256:{hashes[-1]}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the existing lock instead of writing it"
    )
    args = parser.parse_args()
    # The oldest Python first: what it resolves (e.g. the newest numpy that still supports it)
    # every newer target can install too, and its pins then constrain the others.
    order = sorted(TARGETS, key=lambda t: tuple(int(part) for part in t.python_version.split(".")))
    first = resolve(order[0])
    pins = {name: version for name, (version, _) in first.items()}
    resolved = {order[0]: first} | {target: resolve(target, pins) for target in order[1:]}
    per_target = [resolved[target] for target in TARGETS]
    text = render(per_target)
    if args.check:
        if LOCK.read_text() != text:
            print(
                "lock.py: requirements.lock is out of date; run python docker/mlflow/lock.py", file=sys.stderr
            )
            return 1
        return 0
    LOCK.write_text(text)
    print(f"lock.py: wrote {LOCK} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
