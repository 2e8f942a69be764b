"""A git host's push webhook, already verified, as the pipeline's trigger.

The handler verifies the host's signature on the raw body first (``adapters/git_webhook``);
only then does this module read the body. A delivery becomes one of:

- ``Push``: a push to the configured branch of the configured repository; its ``trigger``
  is the execution input the CodeCommit rule produces (``domain/trigger.py``), with the
  author taken from the verified payload (GitHub ``sender.login``, GitLab ``user_username``)
  and prefixed with the host (``github:<login>``), so ``IDENTITY_MAP`` tells hosts apart;
- ``Ignored``: a tag push, a branch deletion, another branch or repository, another event
  (answered 2xx with the reason: the host should not retry it);
- ``MalformedDeliveryError``: a body or header that is not what the host sends (answered 400).

The push time is GitHub's ``repository.pushed_at`` (set by GitHub, signed with the body), so a
redelivery or a replayed body keeps its original place in commit order. GitLab sends no push
time: the time the first delivery of the push was received stands in for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HOSTS = ("github", "gitlab")
ZERO_SHA = "0" * 40
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256 object names
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_BRANCH_PREFIX = "refs/heads/"
_TAG_PREFIX = "refs/tags/"


class MalformedDeliveryError(ValueError):
    """The delivery is not what the host sends (bad JSON, missing or mistyped fields)."""


@dataclass(frozen=True)
class Ignored:
    """A genuine delivery that starts nothing, and why."""

    reason: str


@dataclass(frozen=True)
class Push:
    """A push to the configured branch: what the execution input is built from."""

    host: str
    repository: str
    branch: str
    before: str
    commit: str
    author: str  # "<host>:<login>", from the verified payload
    pushed_at: datetime | None  # the host's own push time; None: the host sends none (GitLab)

    @property
    def key(self) -> str:
        """One push, whichever delivery carries it: the idempotency record's identity. A redelivery
        and a replayed body (under any delivery id) have the same key; a later push back to an
        earlier commit has another ``before``."""
        return f"{self.host}#{self.repository}#{self.branch}#{self.before}#{self.commit}"

    def trigger(self, received_at: datetime) -> dict[str, str]:
        """The execution input: ``{"commit","repository","branch","author","pushed_at"}``;
        ``received_at`` (when the push was first received) stands in for a missing push time."""
        at = (self.pushed_at or received_at).astimezone(UTC)
        return {
            "commit": self.commit,
            "repository": self.repository,
            "branch": self.branch,
            "author": self.author,
            "pushed_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Delivery:
    """The idempotency record of one push: the delivery that claimed it first, when it was
    received, and the execution it started ("" until StartExecution succeeded)."""

    key: str
    delivery_id: str
    received_at: datetime
    execution: str = ""


@dataclass(frozen=True)
class Started:
    """What StartExecution did: the execution's ARN, and whether this call started it."""

    execution: str
    new: bool


def delivery_id(value: str | None) -> str:
    """The host's delivery id, checked: it names the execution (letters, digits, ``-``)."""
    text = (value or "").strip()
    if not _DELIVERY_ID.match(text):
        raise MalformedDeliveryError("missing or malformed delivery id header")
    return text


def execution_name(host: str, delivery: str) -> str:
    """The execution's name, from the delivery id: two racing deliveries of the same id start one
    execution (StartExecution with an existing name starts nothing new). At most 80 characters."""
    return f"{host}-{delivery_id(delivery)}"


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedDeliveryError("body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise MalformedDeliveryError("body is not a JSON object")
    return data


def _text(data: Mapping[str, Any], *path: str) -> str:
    value: Any = data
    for name in path:
        value = value.get(name) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        raise MalformedDeliveryError(f"{'.'.join(path)} is missing or not a string")
    return value.strip()


def _sha(data: Mapping[str, Any], name: str) -> str:
    value = _text(data, name).lower()
    if not _SHA.match(value):
        raise MalformedDeliveryError(f"{name} is not a commit id")
    return value


def _classify(ref: str, commit: str, deleted: bool, repository: str, want: tuple[str, str]) -> Ignored | None:
    """The reason a push to ``ref`` of ``repository`` starts nothing, or None when it should."""
    want_repository, want_branch = want
    if ref.startswith(_TAG_PREFIX):
        return Ignored(f"tag push ({ref})")
    if not ref.startswith(_BRANCH_PREFIX):
        return Ignored(f"not a branch push ({ref})")
    if repository.lower() != want_repository.lower():
        return Ignored(f"push to repository {repository}, not {want_repository}")
    if ref != _BRANCH_PREFIX + want_branch:
        return Ignored(f"push to {ref.removeprefix(_BRANCH_PREFIX)}, not {want_branch}")
    if deleted or commit == ZERO_SHA:
        return Ignored(f"branch deletion ({want_branch})")
    return None


def github_push(event: str, raw: bytes, repository: str, branch: str) -> Push | Ignored:
    """A GitHub delivery (``X-GitHub-Event`` ``event``) as a push to ``branch`` of ``repository``."""
    if event != "push":
        if not event.strip():
            raise MalformedDeliveryError("missing X-GitHub-Event header")
        return Ignored(f"{event} event, not a push")
    data = _json(raw)
    ref = _text(data, "ref")
    full_name = _text(data, "repository", "full_name")
    after = _sha(data, "after")
    ignored = _classify(ref, after, data.get("deleted") is True, full_name, (repository, branch))
    if ignored is not None:
        return ignored
    pushed = (data.get("repository") or {}).get("pushed_at")
    # Push events carry it as epoch seconds; bool is an int in Python but never a time.
    if not isinstance(pushed, int) or isinstance(pushed, bool) or pushed <= 0:
        raise MalformedDeliveryError("repository.pushed_at is missing or not epoch seconds")
    return Push(
        host="github",
        repository=full_name,
        branch=branch,
        before=_sha(data, "before"),
        commit=after,
        author=f"github:{_text(data, 'sender', 'login')}",
        pushed_at=datetime.fromtimestamp(pushed, tz=UTC),
    )


def gitlab_push(raw: bytes, repository: str, branch: str) -> Push | Ignored:
    """A GitLab delivery as a push to ``branch`` of ``repository`` (the body's ``object_kind``
    says what it is: ``push``, ``tag_push``, ...)."""
    data = _json(raw)
    kind = _text(data, "object_kind")
    if kind == "tag_push":
        return Ignored(f"tag push ({data.get('ref')})")
    if kind != "push":
        return Ignored(f"{kind} event, not a push")
    ref = _text(data, "ref")
    full_name = _text(data, "project", "path_with_namespace")
    after = _sha(data, "after")
    ignored = _classify(ref, after, False, full_name, (repository, branch))
    if ignored is not None:
        return ignored
    return Push(
        host="gitlab",
        repository=full_name,
        branch=branch,
        before=_sha(data, "before"),
        commit=after,
        author=f"gitlab:{_text(data, 'user_username')}",
        pushed_at=None,
    )
