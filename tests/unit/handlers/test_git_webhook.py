"""The git webhook endpoint: verify, parse, claim the push, start one execution, and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_pipeline.handlers import git_webhook
from mlops_pipeline.handlers._runtime import Deps
from tests.fakes import FakeClock
from tests.fakes_webhook import FakeDeliveryStore, FakeStarter
from tests.webhook_samples import COMMIT, DELIVERY, REPOSITORY, SECRET, event, github_body, gitlab_body

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PUSHED = NOW - timedelta(seconds=2)


def make_deps(host: str) -> Deps:
    env = {
        "MLOPS_TABLE": "t",
        "GIT_HOST": host,
        "GIT_REPOSITORY": REPOSITORY[host],
        "GIT_BRANCH": "main",
        "STATE_MACHINE_ARN": FakeStarter().state_machine_arn,
    }
    return Deps(
        env=env,
        clock=FakeClock(NOW),
        deliveries=FakeDeliveryStore(),
        starter=FakeStarter(),
        git_webhook_secret=SECRET,
    )


def body_of(host: str, **kwargs: Any) -> dict[str, Any]:
    return github_body(PUSHED, **kwargs) if host == "github" else gitlab_body(**kwargs)


def call(deps: Deps, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = git_webhook.handle(request, deps)
    return response["statusCode"], json.loads(response["body"])


def starter(deps: Deps) -> FakeStarter:
    assert isinstance(deps.starter, FakeStarter)
    return deps.starter


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_signed_push_to_the_branch_starts_one_execution_with_the_trigger_input(host: str) -> None:
    deps = make_deps(host)
    status, body = call(deps, event(host, body_of(host)))
    assert status == 202 and body["status"] == "started"
    name = f"{host}-{DELIVERY[host]}"
    assert body["execution"].endswith(f":execution:mlops-pipeline:{name}")
    author = "github:Octocat" if host == "github" else "gitlab:jsmith"
    pushed_at = "2026-11-26T11:59:58Z" if host == "github" else "2026-11-26T12:00:00Z"
    assert starter(deps).executions == {
        name: {
            "commit": COMMIT,
            "repository": REPOSITORY[host],
            "branch": "main",
            "author": author,
            "pushed_at": pushed_at,
        }
    }


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_redelivery_starts_nothing_new(host: str) -> None:
    deps = make_deps(host)
    first = call(deps, event(host, body_of(host)))
    assert first[0] == 202
    assert call(deps, event(host, body_of(host))) == (
        200,
        {"status": "already processed", "execution": first[1]["execution"]},
    )
    assert len(starter(deps).executions) == 1 and starter(deps).calls == 1


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_replayed_body_under_a_fresh_delivery_id_starts_nothing_new(host: str) -> None:
    # The delivery id header is not signed: the push itself (signed) is what is claimed.
    deps = make_deps(host)
    call(deps, event(host, body_of(host)))
    status, body = call(deps, event(host, body_of(host), delivery="ffffffff-0000-0000-0000-000000000000"))
    assert (status, body["status"]) == (200, "already processed")
    assert list(starter(deps).executions) == [f"{host}-{DELIVERY[host]}"]


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_failed_start_is_retried_by_the_redelivery_under_the_first_delivery_s_name(host: str) -> None:
    deps = make_deps(host)
    starter(deps).fail = True
    status, _ = call(deps, event(host, body_of(host)))
    assert status == 503 and starter(deps).executions == {}
    # GitLab's push time is the first receipt, so the retry's input is the same as the first try's.
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(30)
    status, body = call(deps, event(host, body_of(host), delivery="0000aaaa-0000-0000-0000-000000000000"))
    assert (status, body["status"]) == (202, "started")
    assert list(starter(deps).executions) == [f"{host}-{DELIVERY[host]}"]
    assert starter(deps).executions[f"{host}-{DELIVERY[host]}"]["pushed_at"].startswith("2026-11-26T1")
    if host == "gitlab":
        assert starter(deps).executions[f"{host}-{DELIVERY[host]}"]["pushed_at"] == "2026-11-26T12:00:00Z"


def test_two_racing_deliveries_of_one_push_start_one_execution() -> None:
    # Both claimed before either started: both start the claimant's name with the same input.
    deps = make_deps("github")
    store = deps.deliveries
    assert isinstance(store, FakeDeliveryStore)
    real_mark = store.mark_started
    store.mark_started = lambda key, execution: None  # type: ignore[method-assign]
    call(deps, event("github", body_of("github")))
    call(deps, event("github", body_of("github"), delivery="ffffffff-0000-0000-0000-000000000000"))
    store.mark_started = real_mark  # type: ignore[method-assign]
    assert len(starter(deps).executions) == 1 and starter(deps).calls == 2


@pytest.mark.parametrize(
    ("host", "kwargs", "reason"),
    [
        ("github", {"ref": "refs/tags/v1"}, "tag push"),
        ("github", {"ref": "refs/heads/dev"}, "push to dev, not main"),
        ("github", {"deleted": True, "after": "0" * 40}, "branch deletion"),
        ("gitlab", {"kind": "tag_push", "ref": "refs/tags/v1"}, "tag push"),
        ("gitlab", {"ref": "refs/heads/dev"}, "push to dev, not main"),
        ("gitlab", {"after": "0" * 40}, "branch deletion"),
    ],
)
def test_pushes_that_start_nothing_are_ignored_with_a_2xx_and_a_reason(
    host: str, kwargs: Any, reason: str
) -> None:
    deps = make_deps(host)
    status, body = call(deps, event(host, body_of(host, **kwargs)))
    assert status == 200 and body["status"] == "ignored" and reason in body["reason"]
    assert starter(deps).calls == 0


def test_a_non_push_event_is_ignored() -> None:
    deps = make_deps("github")
    status, body = call(
        deps, event("github", {"zen": "Design for failure.", "hook_id": 1}, github_event="ping")
    )
    assert (status, body) == (200, {"status": "ignored", "reason": "ping event, not a push"})
    assert starter(deps).calls == 0


@pytest.mark.parametrize(
    ("host", "forgery"),
    [
        ("github", "wrong secret"),
        ("github", "no signature"),
        ("github", "tampered body"),
        ("gitlab", "wrong secret"),
        ("gitlab", "no signature"),
        # GitLab's token covers no body: a tampered body with the right token passes (README, Security).
    ],
)
def test_a_forged_delivery_is_refused_401_before_its_body_is_read(host: str, forgery: str) -> None:
    deps = make_deps(host)
    request = event(host, body_of(host), secret="not the secret" if forgery == "wrong secret" else SECRET)
    if forgery == "no signature":
        request["headers"] = {
            k: v for k, v in request["headers"].items() if k not in ("x-hub-signature-256", "x-gitlab-token")
        }
    if forgery == "tampered body":
        request["body"] = request["body"].replace(COMMIT, "c" * 40)
    assert call(deps, request) == (401, {"error": "invalid webhook signature"})
    assert starter(deps).calls == 0 and deps.deliveries.records == {}  # type: ignore[attr-defined]


def test_an_unsigned_garbage_body_is_401_not_400() -> None:
    # Nothing about the body is looked at before the signature: garbage unsigned is a forgery.
    deps = make_deps("github")
    request = event("github", b"\x00garbage", secret="nope")
    assert call(deps, request)[0] == 401


@pytest.mark.parametrize("host", ["github", "gitlab"])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"ref": "refs/heads/main"}', b"\xff\xfe"])
def test_a_signed_malformed_body_is_refused_400(host: str, raw: bytes) -> None:
    deps = make_deps(host)
    status, body = call(deps, event(host, raw))
    assert status == 400 and body["error"]
    assert starter(deps).calls == 0


@pytest.mark.parametrize("delivery", ["", "no spaces allowed", "x" * 65])
def test_a_malformed_delivery_id_is_refused_400(delivery: str) -> None:
    deps = make_deps("github")
    request = event("github", body_of("github"))
    request["headers"]["x-github-delivery"] = delivery
    assert call(deps, request)[0] == 400 and starter(deps).calls == 0


@pytest.mark.parametrize("age", [timedelta(days=3, seconds=1), -timedelta(days=3, seconds=1)])
def test_a_stale_github_delivery_is_refused(age: timedelta) -> None:
    # Older than the idempotency record lives: a replay of a captured body, refused.
    deps = make_deps("github")
    status, body = call(deps, event("github", github_body(NOW - age)))
    assert status == 400 and "stale delivery" in body["error"]
    assert starter(deps).calls == 0


def test_the_idempotency_record_outlives_the_redelivery_window() -> None:
    deps = make_deps("github")
    call(deps, event("github", body_of("github")))
    store = deps.deliveries
    assert isinstance(store, FakeDeliveryStore)
    assert list(store.expires.values()) == [NOW + timedelta(days=4)]


def test_an_unknown_git_host_is_a_configuration_error() -> None:
    deps = make_deps("github")
    assert deps.env is not None
    deps.env = {**deps.env, "GIT_HOST": "codecommit"}
    with pytest.raises(Exception, match="GIT_HOST"):
        git_webhook.handle(event("github", body_of("github")), deps)
