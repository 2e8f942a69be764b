"""checkov with zero failures, justified skips, and no wildcard IAM actions anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _checkov() -> Path | None:
    explicit = os.environ.get("CHECKOV")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(REPO / ".venv-checkov" / "bin" / "checkov")
    return next((c for c in candidates if c.is_file()), None)


def _tf_files() -> list[Path]:
    return sorted(p for p in (REPO / "terraform").rglob("*.tf") if ".terraform" not in p.parts)


def test_checkov_finds_no_failed_checks(tf_tree: Path) -> None:
    checkov = _checkov()
    if checkov is None:
        pytest.skip(
            "checkov not installed: `make setup` creates .venv-checkov (or set CHECKOV=/path/to/checkov)"
        )
    result = subprocess.run(
        [str(checkov), "-d", str(tf_tree / "terraform"), "--framework", "terraform", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a file (it would skip its checks)"
    assert summary["passed"] > 100


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
