"""Commit facts for the lineage tags, from the pipeline's env and the checkout itself."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_pipeline.model_build.errors import BuildError


@dataclass(frozen=True)
class GitInfo:
    commit: str
    branch: str
    author_email: str
    commit_time: int
    repository: str


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def resolve_git_info(project_dir: Path, env: Mapping[str, str]) -> GitInfo:
    """GIT_* from the state machine win; the checkout fills the rest (author email, commit time)."""
    head = _git(project_dir, "rev-parse", "HEAD")
    commit = env.get("GIT_COMMIT") or head
    if not commit:
        raise BuildError(f"{project_dir} is not a git checkout and GIT_COMMIT is not set")
    if head and not head.startswith(commit) and not commit.startswith(head):
        # The lineage tags must describe the code that was actually trained.
        raise BuildError(f"GIT_COMMIT {commit} is not the checked-out commit {head}")
    commit = head or commit
    commit_time = _git(project_dir, "log", "-1", "--format=%ct", commit)
    if not commit_time or not commit_time.isdigit():
        raise BuildError(f"cannot read the commit time of {commit} from the checkout in {project_dir}")
    author = env.get("GIT_AUTHOR", "")
    if "@" not in author:
        author = _git(project_dir, "log", "-1", "--format=%ae", commit) or author
    branch = env.get("GIT_BRANCH") or _git(project_dir, "rev-parse", "--abbrev-ref", "HEAD") or ""
    repository = env.get("GIT_REPOSITORY") or _git(project_dir, "config", "--get", "remote.origin.url") or ""
    return GitInfo(
        commit=commit, branch=branch, author_email=author, commit_time=int(commit_time), repository=repository
    )
