"""checkov with zero failures, justified skips, and no wildcard IAM actions anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ci import unavailable

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _checkov() -> Path | None:
    explicit = os.environ.get("CHECKOV")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(REPO / ".venv-checkov" / "bin" / "checkov")
    return next((c for c in candidates if c.is_file()), None)


def _tf_files(root: Path = REPO) -> list[Path]:
    return sorted(p for p in (root / "terraform").rglob("*.tf") if ".terraform" not in p.parts)


@pytest.fixture(scope="session")
def checkov_report(tf_tree: Path) -> dict[str, Any]:
    """checkov over the scratch copy of terraform/ (passed, failed and skipped checks)."""
    checkov = _checkov()
    if checkov is None:
        unavailable(
            "checkov not installed: `make setup` creates .venv-checkov (or set CHECKOV=/path/to/checkov)"
        )
    result = subprocess.run(
        [str(checkov), "-d", str(tf_tree / "terraform"), "--framework", "terraform", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [r["check_type"] for r in reports] == ["terraform"], result.stderr[-2000:]
    report: dict[str, Any] = reports[0]
    return report


def test_checkov_finds_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}"
        for c in checkov_report["results"].get("failed_checks", [])
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a file (it would skip its checks)"
    assert summary["passed"] > 100


def test_every_checkov_skip_is_used(checkov_report: dict[str, Any], tf_tree: Path) -> None:
    """Each inline skip sits in the block checkov reports the check on, so it justifies a real result.

    A skip left behind when code moves (next to a module call, in the wrong resource, or for
    a check that no longer fires) would otherwise stay in the code, silently justifying nothing.
    """
    # Read the comments from the copy checkov scanned, so both see the same lines.
    used = {
        (Path(c["file_abs_path"]).relative_to(tf_tree).as_posix(), c["check_id"], *c["file_line_range"])
        for c in checkov_report["results"].get("skipped_checks", [])
    }
    unused = [
        f"{name}:{number} {check}"
        for path in _tf_files(tf_tree)
        for name in [path.relative_to(tf_tree).as_posix()]
        for number, check in _skips(path)
        if not any(f == name and c == check and first <= number <= last for f, c, first, last in used)
    ]
    assert not unused, (
        f"checkov skips that skip nothing (move them beside the resource they justify, or drop them): {unused}"
    )


def _skips(path: Path) -> list[tuple[int, str]]:
    return [
        (number, match.group(1))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if (match := SKIP.search(line))
    ]


def test_every_checkov_skip_has_a_reason() -> None:
    missing = []
    for path in _tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP.search(line)
            if match and len((match.group(2) or "").strip()) < 15:
                missing.append(f"{path.relative_to(REPO)}:{number}")
    assert not missing, f"checkov skips without a reason: {missing}"


def test_no_iam_action_is_a_wildcard() -> None:
    offenders = []
    for path in _tf_files():
        text = path.read_text()
        for block in re.findall(r"actions\s*=\s*\[(.*?)\]", text, flags=re.S):
            offenders += [f"{path.relative_to(REPO)}: {a}" for a in re.findall(r'"([^"]*\*[^"]*)"', block)]
    assert not offenders, f"wildcard IAM actions: {offenders}"
