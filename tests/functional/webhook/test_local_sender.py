"""The local git remote's webhook sender against the real handler: a GitHub and a GitLab push it
builds (from a real repository, through the gateway's event shape) is verified, parsed and starts
one execution with the host's author; a tampered or wrongly signed delivery is refused."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.handlers import git_webhook
from mlops_pipeline.handlers._runtime import Deps
from mlops_pipeline.local.stack.interactions_gateway import to_apigw_v2_event
from mlops_pipeline.local.stack.webhook_sender import (
    ZERO,
    Delivery,
    deliver,
    payload_for,
    record,
    recorded,
)
from tests.fakes import FakeClock
from tests.fakes_webhook import FakeDeliveryStore, FakeStarter

pytestmark = pytest.mark.functional

SECRET = "local-webhook-secret"
REPOSITORY = "local/mlops-models"
LOGIN = "data-scientist"


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Data Scientist",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Data Scientist",
        "GIT_COMMITTER_EMAIL": "author@example.com",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(cwd),
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with two commits: its git dir, the first and the second commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = []
    for n in (1, 2):
        (repo / "model.json").write_text(json.dumps({"n": n}))
        git(repo, "add", "model.json")
        git(repo, "commit", "-q", "-m", f"model {n}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    return repo / ".git", commits[0], commits[1]


def webhook(host: str) -> dict[str, Any]:
    return {"host": host, "repository": REPOSITORY, "login": LOGIN}


def gateway_event(delivery: Delivery, body: bytes | None = None) -> dict[str, Any]:
    """What the local gateway hands the function for this delivery (API Gateway v2)."""
    return to_apigw_v2_event("POST", "/git/webhook", delivery.headers, body or delivery.body, "127.0.0.1")


def handle(host: str, event: dict[str, Any], starter: FakeStarter, secret: str = SECRET) -> dict[str, Any]:
    env = {"GIT_HOST": host, "GIT_REPOSITORY": REPOSITORY, "GIT_BRANCH": "main", "STATE_MACHINE_ARN": "arn"}
    deps = Deps(
        env=env,
        clock=FakeClock(datetime.now(UTC)),
        deliveries=FakeDeliveryStore(),
        starter=starter,
        git_webhook_secret=secret,
    )
    return git_webhook.handle(event, deps)


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_push_built_by_the_sender_starts_one_run_with_the_hosts_author(
    host: str, pushed: tuple[Path, str, str]
) -> None:
    git_dir, first, second = pushed
    body = payload_for(host, webhook(host), git_dir, first, second, "refs/heads/main")
    delivery = deliver(host, body, SECRET, ref="refs/heads/main")
    starter = FakeStarter()
    response = handle(host, gateway_event(delivery), starter)
    assert response["statusCode"] == 202, response
    [(name, execution_input)] = starter.executions.items()
    assert name == f"{host}-{delivery.id}"
    assert execution_input["author"] == f"{host}:{LOGIN}"
    assert execution_input["commit"] == second
    assert execution_input["repository"] == REPOSITORY and execution_input["branch"] == "main"
    data = json.loads(body)
    listed = data["commits"]
    assert [c["id"] for c in listed] == [second]  # what the push brought, as the host lists it
    if host == "github":
        assert data["head_commit"]["message"] == "model 2"
        assert data["pusher"]["name"] == LOGIN and not data["created"] and not data["deleted"]


@pytest.mark.parametrize("host", ["github", "gitlab"])
def test_a_tampered_or_wrongly_signed_delivery_is_refused(host: str, pushed: tuple[Path, str, str]) -> None:
    git_dir, first, second = pushed
    body = payload_for(host, webhook(host), git_dir, first, second, "refs/heads/main")
    delivery = deliver(host, body, SECRET)
    starter = FakeStarter()
    if host == "github":  # the HMAC covers the body: another author in the same envelope fails
        forged = body.replace(LOGIN.encode(), b"someone-else")
        assert forged != body
        assert handle(host, gateway_event(delivery, forged), starter)["statusCode"] == 401
    # Signed with another secret (GitLab: another token): refused, whatever the body.
    assert handle(host, gateway_event(delivery), starter, secret="another-secret")["statusCode"] == 401
    assert starter.executions == {} and starter.calls == 0


def test_tag_pushes_and_deletions_are_sent_and_ignored(pushed: tuple[Path, str, str]) -> None:
    git_dir, first, _ = pushed
    for host, ref, old, new in (
        ("github", "refs/tags/v1", ZERO, first),
        ("gitlab", "refs/tags/v1", ZERO, first),
        ("github", "refs/heads/main", first, ZERO),
    ):
        body = payload_for(host, webhook(host), git_dir, old, new, ref)
        starter = FakeStarter()
        response = handle(host, gateway_event(deliver(host, body, SECRET, ref=ref)), starter)
        assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "ignored"
        assert starter.executions == {}


def test_the_delivery_record_keeps_the_body_but_not_the_signature(
    tmp_path: Path, pushed: tuple[Path, str, str]
) -> None:
    git_dir, first, second = pushed
    delivery = deliver(
        "github", payload_for("github", webhook("github"), git_dir, first, second, "refs/heads/main"), SECRET
    )
    path = tmp_path / "deliveries.jsonl"
    record(path, delivery, 202, '{"status": "started"}')
    [entry] = recorded(path)
    assert entry["body"].encode() == delivery.body and entry["delivery"] == delivery.id
    text = path.read_text()
    assert SECRET not in text and delivery.headers["X-Hub-Signature-256"] not in text
