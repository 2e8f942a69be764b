"""Push deliveries as GitHub and GitLab send them (the fields the pipeline reads, in the hosts'
documented shapes), signed with a test secret, as API Gateway HTTP API (v2) events."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from mlops_pipeline.adapters.git_hosts.signature import DELIVERY_HEADERS, EVENT_HEADERS, sign

SECRET = "It's a Secret to Everybody"
REPOSITORY = {"github": "octo-org/models", "gitlab": "data-team/models"}
BEFORE = "a" * 40
COMMIT = "b" * 40
DELIVERY = {
    "github": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "gitlab": "13792a34-cac6-4fda-95a8-c58e00a3954e",
}


def github_body(
    pushed_at: datetime,
    ref: str = "refs/heads/main",
    after: str = COMMIT,
    deleted: bool = False,
    login: str = "Octocat",
    repository: str = REPOSITORY["github"],
) -> dict[str, Any]:
    return {
        "ref": ref,
        "before": BEFORE,
        "after": after,
        "created": False,
        "deleted": deleted,
        "forced": False,
        "repository": {"id": 1296269, "full_name": repository, "pushed_at": int(pushed_at.timestamp())},
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "sender": {"login": login, "id": 1},
        "head_commit": None if deleted else {"id": after, "timestamp": "2011-01-26T19:06:43Z"},
    }


def gitlab_body(
    kind: str = "push",
    ref: str = "refs/heads/main",
    after: str = COMMIT,
    username: str = "jsmith",
    repository: str = REPOSITORY["gitlab"],
) -> dict[str, Any]:
    return {
        "object_kind": kind,
        "event_name": kind,
        "before": BEFORE,
        "after": after,
        "ref": ref,
        "checkout_sha": after,
        "user_id": 4,
        "user_name": "John Smith",
        "user_username": username,
        "user_email": "john@example.com",
        "project_id": 15,
        "project": {"id": 15, "path_with_namespace": repository},
        "commits": [],
        "total_commits_count": 0,
    }


def event(
    host: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    delivery: str | None = None,
    github_event: str = "push",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway v2 event of a delivery (headers lower-cased, as API Gateway passes them)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {
        DELIVERY_HEADERS[host]: delivery or DELIVERY[host],
        EVENT_HEADERS[host]: github_event if host == "github" else "Push Hook",
        "Content-Type": "application/json",
        **sign(host, raw, secret),
        **(headers or {}),
    }
    try:
        text, encoded = raw.decode("utf-8"), False
    except UnicodeDecodeError:  # API Gateway passes a binary body base64-encoded
        text, encoded = base64.b64encode(raw).decode("ascii"), True
    return {
        "version": "2.0",
        "routeKey": "POST /git/webhook",
        "headers": {k.lower(): v for k, v in sent.items()},
        "body": text,
        "isBase64Encoded": encoded,
        "requestContext": {"requestId": "req-1", "http": {"method": "POST", "path": "/git/webhook"}},
    }
