"""The local git remote's push webhook, as GitHub or GitLab delivers it (``--git-host``).

For each pushed reference the hook builds the host's push payload (the documented fields,
those the ``git_webhook`` handler reads among them), signs the raw body as the host does
(GitHub ``X-Hub-Signature-256``, GitLab ``X-Gitlab-Token``), gives it a fresh delivery id and
POSTs it to the local gateway's ``POST /git/webhook``. Like the hosts, it sends every push
(tags and deletions too): the handler decides what starts a run. Each delivery is recorded,
without its signature, in a JSON-lines file, as the hosts' "Recent deliveries" (``redeliver``).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_pipeline.adapters.git_hosts.signature import DELIVERY_HEADERS, EVENT_HEADERS, sign

ZERO = "0" * 40
LOCAL_LOGIN = "data-scientist"  # who pushes, as the local host names them (sender.login / user_username)
_TIMEOUT = 30  # the handler starts an execution synchronously; a push should still not hang
_MAX_COMMITS = 20  # as GitHub and GitLab: the payload lists at most 20 commits


@dataclass(frozen=True)
class Commit:
    id: str
    message: str
    timestamp: str  # ISO 8601
    author_name: str
    author_email: str


@dataclass(frozen=True)
class Delivery:
    """One signed delivery: its id, raw body and every header the host sends."""

    host: str
    id: str
    body: bytes
    headers: dict[str, str]


def _github_commit(commit: Commit) -> dict[str, Any]:
    return {
        "id": commit.id,
        "message": commit.message,
        "timestamp": commit.timestamp,
        "author": {"name": commit.author_name, "email": commit.author_email},
        "added": [],
        "removed": [],
        "modified": [],
    }


def github_payload(
    repository: str,
    ref: str,
    before: str,
    after: str,
    login: str,
    pushed_at: datetime,
    commits: Sequence[Commit] = (),
) -> dict[str, Any]:
    """GitHub's ``push`` event body ("Webhook events and payloads", docs.github.com)."""
    owner, _, name = repository.partition("/")
    listed = [_github_commit(c) for c in commits]
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{repository}/compare/{before[:12]}...{after[:12]}",
        "commits": listed,
        "head_commit": listed[-1] if listed else None,
        "repository": {
            "name": name,
            "full_name": repository,
            "owner": {"login": owner, "name": owner},
            "private": True,
            "default_branch": "main",
            "pushed_at": int(pushed_at.timestamp()),  # push events carry epoch seconds here
        },
        "pusher": {"name": login, "email": None},
        "sender": {"login": login, "type": "User"},
    }


def gitlab_payload(
    repository: str, ref: str, before: str, after: str, username: str, commits: Sequence[Commit] = ()
) -> dict[str, Any]:
    """GitLab's push (or tag push) event body ("Webhook events", docs.gitlab.com)."""
    kind = "tag_push" if ref.startswith("refs/tags/") else "push"
    name = repository.rpartition("/")[2]
    return {
        "object_kind": kind,
        "event_name": kind,
        "before": before,
        "after": after,
        "ref": ref,
        "ref_protected": False,
        "checkout_sha": None if after == ZERO else after,
        "user_name": username,
        "user_username": username,
        "project": {"name": name, "path_with_namespace": repository, "default_branch": "main"},
        "commits": [
            {
                "id": c.id,
                "message": c.message,
                "title": c.message.splitlines()[0] if c.message else "",
                "timestamp": c.timestamp,
                "author": {"name": c.author_name, "email": c.author_email},
            }
            for c in commits
        ],
        "total_commits_count": len(commits),
    }


def deliver(host: str, body: bytes, secret: str, delivery_id: str | None = None, ref: str = "") -> Delivery:
    """``body`` signed with ``secret`` as ``host`` signs it, under a fresh delivery id."""
    if host == "github":
        event, agent = "push", "GitHub-Hookshot/local"
    else:
        event, agent = ("Tag Push Hook" if ref.startswith("refs/tags/") else "Push Hook"), "GitLab/local"
    identifier = delivery_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": agent,
        EVENT_HEADERS[host]: event,
        DELIVERY_HEADERS[host]: identifier,
        **sign(host, body, secret),
    }
    return Delivery(host, identifier, body, headers)


def post(url: str, delivery: Delivery, timeout: float = _TIMEOUT) -> tuple[int, str]:
    """POST the delivery; the endpoint's status and body (an HTTP error is an answer too)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) webhook URL: {url!r}")
    request = urllib.request.Request(url, data=delivery.body, headers=delivery.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked above
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------- the hook's side


def _git(git_dir: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout


def pushed_commits(git_dir: Path, before: str, after: str) -> list[Commit]:
    """The commits a push brought (oldest first, at most the last 20), as the hosts list them."""
    if after == ZERO:
        return []
    span = after if before == ZERO else f"{before}..{after}"
    ids = _git(git_dir, "rev-list", f"--max-count={_MAX_COMMITS}", span).split()
    commits = []
    for commit in reversed(ids):
        name, email, at, message = _git(
            git_dir, "show", "-s", "--format=%an%x00%ae%x00%aI%x00%B", commit
        ).split("\x00", 3)
        commits.append(Commit(commit, message.strip(), at, name, email))
    return commits


def payload_for(host: str, webhook: Mapping[str, Any], git_dir: Path, old: str, new: str, ref: str) -> bytes:
    """The raw body ``host`` sends for the push of ``ref`` from ``old`` to ``new``."""
    commits = pushed_commits(git_dir, old, new)
    repository, login = str(webhook["repository"]), str(webhook.get("login") or LOCAL_LOGIN)
    if host == "github":
        data = github_payload(repository, ref, old, new, login, datetime.now(UTC), commits)
    else:
        data = gitlab_payload(repository, ref, old, new, login, commits)
    return json.dumps(data).encode("utf-8")


def record(path: Path, delivery: Delivery, status: int, answer: str) -> None:
    """Append the delivery (body, id, answer; never the signature header) to ``path``."""
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": delivery.host,
        "delivery": delivery.id,
        "status": status,
        "answer": answer[:500],
        "body": delivery.body.decode("utf-8"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def recorded(path: Path) -> list[dict[str, Any]]:
    """The recorded deliveries, oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def send_pushes(git_dir: Path, webhook: Mapping[str, Any], secret: str, lines: Sequence[str]) -> list[int]:
    """One delivery per ``post-receive`` line (``<old> <new> <ref>``); the endpoint's statuses."""
    host = str(webhook["host"])
    statuses = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        delivery = deliver(host, payload_for(host, webhook, git_dir, old, new, ref), secret, ref=ref)
        status, answer = post(str(webhook["url"]), delivery)
        record(Path(webhook["deliveries_file"]), delivery, status, answer)
        statuses.append(status)
    return statuses


def redeliver(
    url: str, entry: Mapping[str, Any], secret: str, delivery_id: str | None = None
) -> tuple[int, str]:
    """Send a recorded delivery's body again, signed anew (GitHub's "Redeliver" keeps the id;
    ``delivery_id`` gives it another, as a replay would)."""
    host, body = str(entry["host"]), str(entry["body"]).encode("utf-8")
    ref = str(json.loads(body).get("ref") or "")
    return post(url, deliver(host, body, secret, delivery_id or str(entry["delivery"]), ref=ref))
