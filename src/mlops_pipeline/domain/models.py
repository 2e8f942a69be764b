"""Value objects shared by the domain, the ports and the adapters."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from mlops_pipeline.domain.errors import InvalidEventError


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version as the pipeline sees it."""

    name: str
    version: str
    run_id: str | None = None
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


class ArtifactKind(StrEnum):
    """How the serving code reaches the inference function."""

    ZIP = "zip"  # a Lambda zip in the artifacts bucket (the default)
    IMAGE = "image"  # a container image in the serving ECR repository


class S3Location(NamedTuple):
    bucket: str
    key: str
    version_id: str


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Artifact:
    """The serving artifact a deploy puts on the inference function.

    ``uri``: ``s3://<bucket>/<key>?versionId=<id>`` (zip: one object version, never "the
    latest") or an image URI with a tag or digest. ``sha256``: hex sha256 of the zip file, or
    of the image manifest (its digest without ``sha256:``). InvalidEventError when malformed.
    """

    kind: ArtifactKind
    uri: str
    sha256: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", artifact_kind(self.kind))
        if not _SHA256.match(self.sha256 or ""):
            raise InvalidEventError(f"artifact sha256 {self.sha256!r} is not 64 lowercase hex digits")
        if self.kind is ArtifactKind.ZIP:
            self.s3_location  # noqa: B018 - validates the URI
        elif "@sha256:" not in self.uri and ":" not in self.uri.rsplit("/", 1)[-1]:
            raise InvalidEventError(f"image URI {self.uri!r} has neither a tag nor a digest")

    @property
    def s3_location(self) -> S3Location:
        """Bucket, key and object version of a zip artifact."""
        parts = urlsplit(self.uri)
        versions = parse_qs(parts.query).get("versionId", [])
        key = parts.path.lstrip("/")
        if self.kind is not ArtifactKind.ZIP or parts.scheme != "s3" or not parts.netloc or not key:
            raise InvalidEventError(f"{self.uri!r} is not an s3://bucket/key?versionId=... zip artifact")
        if len(versions) != 1 or not versions[0]:
            raise InvalidEventError(f"zip artifact {self.uri!r} names no object version (?versionId=)")
        return S3Location(parts.netloc, key, versions[0])

    @property
    def lambda_code_sha256(self) -> str:
        """The ``CodeSha256`` Lambda reports once it runs this artifact (base64 for zips, hex for images)."""
        if self.kind is ArtifactKind.ZIP:
            return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")
        return self.sha256

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "uri": self.uri, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Any) -> Artifact:
        """``{"kind", "uri", "sha256"}`` (as ``to_dict`` writes it)."""
        if not isinstance(data, dict):
            raise InvalidEventError(f"artifact must be an object with kind, uri and sha256, not {data!r}")
        return cls(artifact_kind(data.get("kind")), str(data.get("uri") or ""), str(data.get("sha256") or ""))


def artifact_kind(value: object) -> ArtifactKind:
    """``zip`` or ``image`` as an ArtifactKind; InvalidEventError for anything else."""
    try:
        return ArtifactKind(str(value))
    except ValueError:
        raise InvalidEventError(f"artifact kind {value!r} is not zip or image") from None


@dataclass(frozen=True)
class DeployResult:
    """Outcome of publishing an artifact to a target function and moving its alias."""

    function_name: str
    alias: str
    previous_version: str | None
    new_version: str
    code_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "alias": self.alias,
            "previous_version": self.previous_version,
            "new_version": self.new_version,
            "code_sha256": self.code_sha256,
        }


@dataclass(frozen=True)
class InvokeResult:
    """What a synchronous invoke of the target function returned."""

    status_code: int
    payload: Any
    function_error: str | None
    latency_ms: float
    executed_version: str | None = None


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    SUPERSEDED = "SUPERSEDED"
    CANCELLED = "CANCELLED"  # the run stopped waiting before a decision reached it

    @property
    def is_final(self) -> bool:
        return self is not ApprovalStatus.PENDING


APPROVE = "approve"
REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    """One click that counted: who, which action (``approve``/``reject``), when."""

    user: str
    action: str
    at: datetime


@dataclass(frozen=True)
class Approval:
    """An approval request; the task token never leaves the server side.

    ``author`` is the principal of the trusted trigger (the push's caller ARN, or a verified
    webhook's sender such as ``github:octocat``); ``author_slack_id`` is that principal
    resolved to a chat user (None: unresolved, which needs two approvers). ``git_author`` is
    the commit's author email as the pusher wrote it: shown, never trusted.
    """

    id: str
    task_token: str = field(repr=False)  # a credential of sorts: never printed or logged
    execution: str
    model: str
    version: str
    commit: str
    author: str
    requested_at: datetime
    expires_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    # Context rendered on the card (metrics, smoke result); never used for decisions.
    details: dict[str, Any] = field(default_factory=dict)
    author_slack_id: str | None = None
    author_via: str = ""  # how the author was resolved, or why not
    git_author: str = ""  # unverified: whatever the pusher configured in git
    pushed_at: datetime | None = None  # the trigger event's time: orders commits
    required_approvals: int = 1
    decisions: tuple[Decision, ...] = ()  # every counted click, in order
    reason: str = ""  # why it ended as it did (expired, cancelled, superseded)

    def with_status(self, status: ApprovalStatus, by: str | None, at: datetime) -> Approval:
        return replace(self, status=status, decided_by=by, decided_at=at)

    @property
    def approvers(self) -> tuple[str, ...]:
        """The distinct users whose approval counted, first click first."""
        return tuple(dict.fromkeys(d.user for d in self.decisions if d.action == APPROVE))

    @property
    def author_resolved(self) -> bool:
        return bool(self.author_slack_id)


@dataclass(frozen=True)
class MessageRef:
    """Where a chat message lives (Slack channel id and message timestamp)."""

    channel: str
    ts: str


@dataclass(frozen=True)
class StepLog:
    """The end of a failed step's log and where the whole log is.

    ``location``: the CloudWatch console link on AWS, the log file's path locally ("" unknown).
    ``error``: why ``lines`` could not be read ("" when they were).
    """

    location: str = ""
    lines: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class StepStatus:
    step: str
    status: str  # STARTED | SUCCEEDED | FAILED | SKIPPED
    at: datetime
    detail: str = ""
    log: StepLog | None = None  # a failed CodeBuild step's last log lines


@dataclass(frozen=True)
class RunRecord:
    """Per-execution record: Slack thread and the status of each step.

    ``steps`` is also the thread's outbox: the first ``posted`` steps are in the thread,
    the rest wait for the chat service (``pending``). No ``slack_thread_ts`` yet: the
    thread's root message is not posted either.
    """

    execution: str
    commit: str = ""
    repository: str = ""
    branch: str = ""
    author: str = ""
    model: str | None = None
    version: str | None = None
    serving_flavor: str = ""  # onnx | skops ("" until Evaluate read the build's tags)
    serving_fallback_reason: str = ""  # why not onnx, when it fell back
    started_at: datetime | None = None
    status: str = "RUNNING"
    slack_channel: str | None = None
    slack_thread_ts: str | None = None
    steps: tuple[StepStatus, ...] = ()
    posted: int = 0

    @property
    def pending(self) -> tuple[StepStatus, ...]:
        """The recorded steps not posted into the thread yet, oldest first."""
        return self.steps[self.posted :]


@dataclass(frozen=True)
class Lock:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class DeployedState:
    """What an environment currently runs, used to refuse stale commits."""

    environment: str
    commit: str
    commit_time: int  # seconds since the epoch of the push (the trigger event's time), 0: unknown
    model: str
    version: str
    execution: str
    deployed_at: datetime


@dataclass(frozen=True)
class DeployIntent:
    """What a deploy is about to do to ``live``, recorded before the alias moves.

    A deploy whose answer is lost (killed on its way out, a timeout) leaves only this behind:
    the recovery reads it to tell whether ``live`` serves this execution's untested version.
    """

    environment: str
    execution: str
    function_name: str
    previous_version: str | None  # behind live before this execution's first deploy; None: none
    new_version: str
    recorded_at: datetime
    # Versions an earlier attempt of the same execution (a retried deploy) put behind live.
    earlier_versions: tuple[str, ...] = ()

    @property
    def own_versions(self) -> frozenset[str]:
        """The versions this execution published, none of them smoke-tested yet."""
        return frozenset({self.new_version, *self.earlier_versions}) - {self.previous_version or ""}
