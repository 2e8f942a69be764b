"""A verified delivery as the pipeline's trigger: what starts a run, what is ignored and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mlops_pipeline.domain.webhook import (
    Ignored,
    MalformedDeliveryError,
    Push,
    delivery_id,
    execution_name,
    github_push,
    gitlab_push,
)
from tests.webhook_samples import BEFORE, COMMIT, REPOSITORY, github_body, gitlab_body

PUSHED = datetime(2026, 11, 26, 11, 59, 30, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def gh(body: object, event: str = "push") -> Push | Ignored:
    return github_push(event, json.dumps(body).encode(), REPOSITORY["github"], "main")


def gl(body: object) -> Push | Ignored:
    return gitlab_push(json.dumps(body).encode(), REPOSITORY["gitlab"], "main")


def test_a_github_push_becomes_the_codecommit_rule_s_input() -> None:
    push = gh(github_body(PUSHED))
    assert isinstance(push, Push)
    assert push.trigger(RECEIVED) == {
        "commit": COMMIT,
        "repository": "octo-org/models",
        "branch": "main",
        "author": "github:Octocat",  # sender.login, prefixed; the identity map compares without case
        "pushed_at": "2026-11-26T11:59:30Z",  # GitHub's own push time, not the receipt
    }
    assert set(push.trigger(RECEIVED)) == {"commit", "repository", "branch", "author", "pushed_at"}


def test_a_gitlab_push_takes_its_author_from_user_username_and_its_time_from_the_receipt() -> None:
    push = gl(gitlab_body())
    assert isinstance(push, Push)
    assert push.trigger(RECEIVED) == {
        "commit": COMMIT,
        "repository": "data-team/models",
        "branch": "main",
        "author": "gitlab:jsmith",
        "pushed_at": "2026-11-26T12:00:00Z",
    }


@pytest.mark.parametrize(
    ("body", "event", "reason"),
    [
        (github_body(PUSHED, ref="refs/tags/v1.0"), "push", "tag push"),
        (github_body(PUSHED, ref="refs/heads/feature"), "push", "push to feature, not main"),
        (github_body(PUSHED, deleted=True, after="0" * 40), "push", "branch deletion"),
        (github_body(PUSHED, repository="octo-org/other"), "push", "repository octo-org/other"),
        ({"zen": "Keep it logically awesome.", "hook_id": 1}, "ping", "ping event, not a push"),
        ({"action": "opened"}, "pull_request", "pull_request event, not a push"),
    ],
)
def test_github_deliveries_that_start_nothing_say_why(body: object, event: str, reason: str) -> None:
    outcome = gh(body, event)
    assert isinstance(outcome, Ignored) and reason in outcome.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gitlab_body(kind="tag_push", ref="refs/tags/v1.0"), "tag push"),
        (gitlab_body(ref="refs/heads/feature"), "push to feature, not main"),
        (gitlab_body(after="0" * 40), "branch deletion"),
        (gitlab_body(repository="data-team/other"), "repository data-team/other"),
        ({"object_kind": "merge_request"}, "merge_request event, not a push"),
    ],
)
def test_gitlab_deliveries_that_start_nothing_say_why(body: object, reason: str) -> None:
    outcome = gl(body)
    assert isinstance(outcome, Ignored) and reason in outcome.reason


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({**github_body(PUSHED), "after": "not-a-sha"}).encode(),
        json.dumps({**github_body(PUSHED), "repository": {"full_name": "octo-org/models"}}).encode(),
        json.dumps(
            {**github_body(PUSHED), "repository": {"full_name": "octo-org/models", "pushed_at": True}}
        ).encode(),
        json.dumps({**github_body(PUSHED), "sender": {}}).encode(),
        json.dumps({k: v for k, v in github_body(PUSHED).items() if k != "ref"}).encode(),
    ],
)
def test_a_malformed_github_body_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedDeliveryError):
        github_push("push", raw, REPOSITORY["github"], "main")


def test_a_malformed_gitlab_body_is_refused() -> None:
    for body in ({**gitlab_body(), "user_username": ""}, {**gitlab_body(), "project": None}, {"ref": "x"}):
        with pytest.raises(MalformedDeliveryError):
            gl(body)


def test_a_push_s_key_is_the_push_not_the_delivery() -> None:
    one, again = gh(github_body(PUSHED)), gh(github_body(PUSHED, login="someone-else"))
    assert isinstance(one, Push) and isinstance(again, Push)
    assert one.key == again.key  # the same push, whoever the body claims sent it
    back = Push("github", "octo-org/models", "main", COMMIT, BEFORE, "github:x", PUSHED)
    assert back.key != one.key  # a later push back to an earlier commit is a push of its own


@pytest.mark.parametrize("value", [None, "", "a b", "x" * 65, "../../etc", "id;rm"])
def test_a_delivery_id_must_be_a_plain_token(value: str | None) -> None:
    with pytest.raises(MalformedDeliveryError):
        delivery_id(value)


def test_the_execution_name_is_the_host_and_the_delivery_id() -> None:
    name = execution_name("gitlab", "13792a34-cac6-4fda-95a8-c58e00a3954e")
    assert name == "gitlab-13792a34-cac6-4fda-95a8-c58e00a3954e"
    assert len(execution_name("gitlab", "f" * 64)) <= 80  # Step Functions' limit
