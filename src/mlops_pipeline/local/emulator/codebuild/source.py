"""A build's source: cloning the requested commit into a clean folder and finding its buildspec."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops_pipeline.local.emulator.codebuild.buildspec import Buildspec, parse_buildspec
from mlops_pipeline.local.emulator.codebuild.errors import BuildspecError, SourceNotFoundError


def git(args: list[str], env: Mapping[str, str], cwd: Path) -> str:
    """Run git without prompts; its stdout, or SourceNotFoundError if it fails."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**env, "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise SourceNotFoundError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def checkout(origin: str, version: str, src: Path, env: Mapping[str, str]) -> str:
    """Clone ``origin`` into ``src`` and check out ``version`` detached; the resolved commit."""
    git(["clone", "--quiet", "--no-checkout", origin, str(src)], env, src.parent)
    git(["checkout", "--quiet", "--detach", commit_of(version, env, src)], env, src)
    return git(["rev-parse", "HEAD"], env, src).strip()


def commit_of(version: str, env: Mapping[str, str], src: Path) -> str:
    """The commit a source version names in the clone at ``src``."""
    # sourceVersion may be a commit, a branch name or refs/heads/<branch>; in a fresh clone
    # branches other than the default exist only as origin/<branch>.
    branch = version.removeprefix("refs/heads/")
    for candidate in dict.fromkeys((version, f"origin/{branch}", branch)):
        try:
            return git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], env, src).strip()
        except SourceNotFoundError:
            continue
    raise SourceNotFoundError(f"source version {version!r} not found in the repository")


def load_buildspec(text: str, src: Path) -> Buildspec:
    """The buildspec: ``text`` itself, the file it names, or ``buildspec.yml`` in the source."""
    if text and "\n" not in text and not text.lstrip().startswith(("version", "phases")):
        text = read_buildspec_file(src, text)  # a path relative to the source root
    if not text:
        text = read_buildspec_file(src, "buildspec.yml")
    return parse_buildspec(text)


def read_buildspec_file(src: Path, name: str) -> str:
    """The text of the buildspec file ``name`` inside the source; BuildspecError outside or missing."""
    path = (src / name).resolve()
    if not path.is_relative_to(src.resolve()) or not path.is_file():
        raise BuildspecError(f"buildspec file {name!r} not found in the source")
    return path.read_text(encoding="utf-8")
