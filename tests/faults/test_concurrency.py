"""Case 6: commits pushed close together, on the real ASL with real timing.

Their builds run concurrently and reach the stage deploy in any order. The deploy lock lets
one run at a time into an environment; an older commit never replaces a newer one in stage or
prod (it is refused there, or superseded at approval by commit order, the trigger event's time);
prod ends on the newest model; each build's outputs belong to that build alone.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient

from mlops_pipeline.domain.models import ApprovalStatus
from mlops_pipeline.local.stack.checkout import buildspec_text
from tests.asl.conftest import Pipeline
from tests.faults.checks import assert_locks_free, last_message

pytestmark = [pytest.mark.faults, pytest.mark.slow]

# An older run ends in one of these: refused by the stage deploy (a newer commit is live there)
# or superseded at approval (a newer commit's approval was requested).
OLDER_ENDS = ("NewerCommitLive", "ApprovalSuperseded")
RUN_TIMEOUT = 480.0  # four runs queue on the stage lock (Retry 30 s, x1.5)


@dataclass(frozen=True)
class Push:
    commit: str
    execution: str
    pushed_at: datetime


def push(pipeline: Pipeline, name: str, rmse: float, at: datetime | None = None) -> Push:
    """Commit a model and start its run as the push rule would (pushed now unless ``at``)."""
    commit = pipeline.commit({"name": name, "metrics": {"rmse": rmse}})
    pushed_at = at or datetime.now(UTC)
    return Push(commit, pipeline.stack.start(commit, pushed_at=pushed_at), pushed_at)


def burst(pipeline: Pipeline, name: str, gaps: list[float]) -> list[Push]:
    """Pushes ``gaps`` seconds apart (real time), oldest first; each later rmse passes the gate."""
    pushes = [push(pipeline, name, 3.0)]
    for i, gap in enumerate(gaps, start=1):
        time.sleep(gap)
        pushes.append(push(pipeline, name, 3.0 - 0.1 * i))
    seconds = [int(p.pushed_at.timestamp()) for p in pushes]
    assert seconds == sorted(set(seconds)), f"event times must order the pushes: {seconds}"
    return pushes


def history(pipeline: Pipeline, execution: str) -> list[dict[str, Any]]:
    sfn = pipeline.emu.client("stepfunctions")
    return list(sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"])


@dataclass
class Visit:
    """One stay of the execution in a state: when, what it returned, its Lambda events' types."""

    name: str
    entered: datetime
    left: datetime | None = None
    output: str | None = None
    calls: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Left through its ``Next`` (a caught failure leaves too, with the error as output)."""
        return self.left is not None and (not self.calls or self.calls[-1][0] == "LambdaFunctionSucceeded")


def visits(pipeline: Pipeline, execution: str) -> list[Visit]:
    out: list[Visit] = []
    for event in history(pipeline, execution):
        if "stateEnteredEventDetails" in event:
            out.append(Visit(event["stateEnteredEventDetails"]["name"], event["timestamp"]))
        elif "stateExitedEventDetails" in event and out:
            out[-1].left, out[-1].output = event["timestamp"], event["stateExitedEventDetails"].get("output")
        elif event["type"].startswith("LambdaFunction") and out:
            out[-1].calls.append((event["type"], event["timestamp"]))
    return out


def exited(pipeline: Pipeline, execution: str, state: str) -> dict[str, Any] | None:
    """The output of ``state`` when the execution left it successfully, else None."""
    done = [v for v in visits(pipeline, execution) if v.name == state and v.succeeded]
    return dict(json.loads(done[-1].output or "{}")) if done else None


def stage_lease(pipeline: Pipeline, execution: str) -> tuple[datetime, datetime] | None:
    """A stretch of time the run certainly held the stage lock: from leaving DeployStage (the
    lock was taken inside it) to leaving SmokeTestStage (PromoteStage or RollbackStage, next,
    frees it); None if the run never deployed stage."""
    stays = visits(pipeline, execution)
    deploy = next((v for v in stays if v.name == "DeployStage" and v.succeeded), None)
    if deploy is None:
        return None
    smoke = next(v for v in stays if v.name == "SmokeTestStage")
    assert deploy.left is not None and smoke.left is not None, [v.name for v in stays]
    return deploy.left, smoke.left


def lock_waits(pipeline: Pipeline, execution: str) -> int:
    """How often the run's deploys found a deployment lock held (DeploymentLockedError)."""
    return sum(
        1
        for e in history(pipeline, execution)
        if e.get("lambdaFunctionFailedEventDetails", {}).get("error") == "DeploymentLockedError"
    )


def wait_until_only_newest_waits(pipeline: Pipeline, pushes: list[Push]) -> str:
    """Wait for the older runs to end and the newest run's card; returns the card's approval id."""
    card = pipeline.wait_for_card(pushes[-1].execution, timeout=RUN_TIMEOUT)
    for older in pushes[:-1]:
        assert pipeline.stack.wait(older.execution, timeout=RUN_TIMEOUT)["status"] == "FAILED"
    status, _ = pipeline.click(card, "approve")
    assert status == 200
    return str(card.buttons[0]["value"])


def assert_older_run_ended_without_replacing_newer(
    pipeline: Pipeline, name: str, older: Push, newest: Push
) -> str:
    """The older run ended refused at stage or superseded at approval; returns its last state."""
    states = pipeline.stack.states(older.execution)
    assert states[-1] in OLDER_ENDS, (states, [m.text for m in pipeline.thread(older.execution)])
    assert "DeployProd" not in states, states
    approvals = pipeline.approvals.list_for_execution(name, older.execution)
    thread = last_message(pipeline, older.execution)
    if states[-1] == "NewerCommitLive":
        # A newer commit was live in stage: refused before touching it, lock not kept.
        assert approvals == []
        assert "StaleCommitError" in thread and "older commit" in thread, thread
    else:
        (approval,) = approvals
        assert approval.status is ApprovalStatus.SUPERSEDED, approval
        assert approval.decided_by is None and approval.approvers == ()
        assert "superseded" in thread.lower(), thread
    return states[-1]


def assert_newest_reached_both_accounts(
    pipeline: Pipeline, name: str, pushes: list[Push], approval_id: str, before: dict[str, str]
) -> None:
    newest = pushes[-1]
    result = pipeline.stack.wait(newest.execution, timeout=RUN_TIMEOUT)
    assert result["status"] == "SUCCEEDED", pipeline.stack.states(newest.execution)
    output = json.loads(result["output"])
    version = output["model"]["model_version"]
    stage_version = output["deploy_stage"]["new_version"]
    prod_version = output["deploy_prod"]["new_version"]

    # Both accounts serve the newest model behind `live`; prod moved exactly once, to it.
    assert pipeline.stack.alias_version("stage", name) == stage_version
    assert pipeline.stack.alias_version("prod", name) == prod_version
    assert int(prod_version) == int(before["prod"]) + 1
    for environment in ("stage", "prod"):
        served = pipeline.invoke_live(environment, name)
        assert (served["model_name"], served["model_version"]) == (name, version), (environment, served)

    registry = MlflowClient(pipeline.mlflow.url)
    production = registry.get_model_version_by_alias(name, "production")
    assert production.version == version
    assert registry.get_model_version_by_alias(name, "staging").version == version
    assert production.tags["git_commit"] == newest.commit
    assert production.tags["approved_by"] == "U0APPROVER"
    assert production.tags["stage_lambda_version"] == stage_version
    assert production.tags["prod_lambda_version"] == prod_version
    for older in pushes[:-1]:
        for candidate in registry.search_model_versions(f"name = '{name}'"):
            if candidate.tags.get("git_commit") == older.commit:
                assert "deployed_prod_at" not in candidate.tags, candidate.tags

    approval = pipeline.approvals.get(approval_id)
    assert approval is not None and approval.execution == newest.execution
    assert approval.status is ApprovalStatus.APPROVED and approval.approvers == ("U0APPROVER",)
    assert pipeline.approvals.list_pending(name) == []
    assert_locks_free(pipeline)
    assert "Pipeline succeeded" in last_message(pipeline, newest.execution)


def assert_stage_serialised_in_commit_order(pipeline: Pipeline, pushes: list[Push]) -> None:
    """The stage leases never overlap (the lock), and they were taken in push order (a later
    stage deploy is never of an older commit)."""
    leases = [(lease, i) for i, p in enumerate(pushes) if (lease := stage_lease(pipeline, p.execution))]
    leases.sort()
    for (first, _), (second, _) in itertools.pairwise(leases):
        assert first[1] <= second[0], f"stage leases overlap: {first} and {second}"
    order = [i for _, i in leases]
    assert order == sorted(order), f"stage deployed pushes in the order {order}"
    assert order[-1] == len(pushes) - 1  # the newest deployed stage last


def assert_builds_kept_their_own_outputs(pipeline: Pipeline, name: str, pushes: list[Push]) -> None:
    """Each run evaluated the version its own build registered, from its own commit."""
    registry = MlflowClient(pipeline.mlflow.url)
    versions = []
    for p in pushes:
        model = exited(pipeline, p.execution, "Evaluate")
        assert model is not None, pipeline.stack.states(p.execution)
        candidate = model["model"]
        tags = registry.get_model_version(name, candidate["model_version"]).tags
        assert (tags["git_commit"], tags["pipeline_execution"]) == (p.commit, p.execution)
        assert candidate["commit"] == p.commit
        assert f"/{name}-{candidate['model_version']}.zip?versionId=" in candidate["artifact"]["uri"]
        versions.append(candidate["model_version"])
    assert len(set(versions)) == len(pushes), versions


def test_two_pushes_a_second_apart_end_on_the_newer_model(pipeline: Pipeline) -> None:
    name = "pushpair"
    started = time.monotonic()
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the pushes
    before = {env: pipeline.stack.alias_version(env, name) for env in ("stage", "prod")}
    pushes = burst(pipeline, name, [1.0])
    approval_id = wait_until_only_newest_waits(pipeline, pushes)

    assert_older_run_ended_without_replacing_newer(pipeline, name, pushes[0], pushes[1])
    assert_newest_reached_both_accounts(pipeline, name, pushes, approval_id, before)
    assert_stage_serialised_in_commit_order(pipeline, pushes)
    assert_builds_kept_their_own_outputs(pipeline, name, pushes)
    waits = [lock_waits(pipeline, p.execution) for p in pushes]
    print(f"\ntwo pushes: {time.monotonic() - started:.0f}s, lock waits per run {waits}")


def test_four_pushes_end_on_the_newest_model(pipeline: Pipeline) -> None:
    name = "pushburst"
    started = time.monotonic()
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the pushes
    before = {env: pipeline.stack.alias_version(env, name) for env in ("stage", "prod")}
    pushes = burst(pipeline, name, [1.0, 2.0, 1.5])
    approval_id = wait_until_only_newest_waits(pipeline, pushes)

    ends = [
        assert_older_run_ended_without_replacing_newer(pipeline, name, p, pushes[-1]) for p in pushes[:-1]
    ]
    assert_newest_reached_both_accounts(pipeline, name, pushes, approval_id, before)
    assert_stage_serialised_in_commit_order(pipeline, pushes)
    assert_builds_kept_their_own_outputs(pipeline, name, pushes)
    waits = [lock_waits(pipeline, p.execution) for p in pushes]
    print(f"\nfour pushes: {time.monotonic() - started:.0f}s, older runs ended {ends}, lock waits {waits}")


def test_an_older_commit_reaching_stage_after_a_newer_one_is_refused_there(pipeline: Pipeline) -> None:
    """The push event of the older commit arrives late: the newer commit is already live in
    stage and waits for approval when the older run gets to DeployStage (stage went v4 -> v3)."""
    name = "latepush"
    pipeline.stack.declare_model(name)  # Terraform's models: its functions exist before the pushes
    before = {env: pipeline.stack.alias_version(env, name) for env in ("stage", "prod")}
    older_commit = pipeline.commit({"name": name, "metrics": {"rmse": 3.0}})
    newer = push(pipeline, name, 2.9)
    card = pipeline.wait_for_card(newer.execution)
    stage_live = pipeline.stack.alias_version("stage", name)
    older_at = newer.pushed_at - timedelta(seconds=1)
    older = Push(older_commit, pipeline.stack.start(older_commit, pushed_at=older_at), older_at)

    assert pipeline.stack.wait(older.execution)["status"] == "FAILED"
    assert pipeline.stack.states(older.execution)[-2:] == ["ReportNewerCommitLiveStage", "NewerCommitLive"]
    assert exited(pipeline, older.execution, "Evaluate") is not None  # built and passed the gate
    assert pipeline.stack.alias_version("stage", name) == stage_live  # never replaced by the older commit
    assert_older_run_ended_without_replacing_newer(pipeline, name, older, newer)
    pending = pipeline.approvals.get(str(card.buttons[0]["value"]))
    assert pending is not None and pending.status is ApprovalStatus.PENDING  # the newer still waits
    message = pipeline.slack.message(card.ts)
    assert message is not None and message.buttons  # and its card still has its buttons

    assert pipeline.click(card, "approve")[0] == 200
    assert_newest_reached_both_accounts(pipeline, name, [older, newer], str(card.buttons[0]["value"]), before)


# What the pipeline's build command leaves for the buildspec (any `mlops-pipeline` subcommand
# given --exports-file), written slowly: the variables name the build that wrote them
# (GIT_COMMIT, CODEBUILD_BUILD_ID), so a mix-up shows in what the build exports.
STUB_BUILDER = """#!/bin/bash
out=""
while [ $# -gt 0 ]; do [ "$1" = --exports-file ] && out="$2"; shift; done
[ -n "$out" ] || exit 0
sleep "$STUB_BEFORE"
printf 'MODEL_NAME=stub\\nMODEL_VERSION=%s\\nARTIFACT_URI=s3://b/%s.zip\\nARTIFACT_KIND=zip\\n' \\
  "$GIT_COMMIT" "$GIT_COMMIT" > "$out"
printf 'ARTIFACT_SHA256=%s\\nRUN_ID=%s\\n' "$GIT_COMMIT" "$CODEBUILD_BUILD_ID" >> "$out"
sleep "$STUB_AFTER"
"""


def test_concurrent_builds_of_the_pipeline_buildspec_export_their_own_outputs(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Local mode's buildspec (the pipeline module's, as on AWS) on the emulator's CodeBuild: the
    first build's exports are written, a second build writes its own, then the first sources
    its file. A path the builds share (``/tmp/mlops-build.env``) hands the first the second's
    version: the mix-up Evaluate's lineage guard caught as ModelNotFoundError."""
    builder = tmp_path / "bin" / "mlops-pipeline"
    builder.parent.mkdir()
    builder.write_text(STUB_BUILDER)
    builder.chmod(0o755)
    codebuild = pipeline.emu.client("codebuild")
    codebuild.create_project(
        name="faults-exports",
        source={"type": "CODECOMMIT", "location": str(pipeline.repo), "buildspec": buildspec_text()},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [
                {"name": "PATH", "value": f"{builder.parent}:{os.environ['PATH']}", "type": "PLAINTEXT"}
            ],
        },
        serviceRole=codebuild.batch_get_projects(names=[pipeline.stack.project])["projects"][0][
            "serviceRole"
        ],
    )
    # Built by this test's own project only, never pushed to the pipeline: no model to declare.
    commits = [
        pipeline.commit({"name": "stub", "metrics": {"rmse": float(i)}}, declare=False) for i in (1, 2)
    ]
    timing = {commits[0]: ("0", "4"), commits[1]: ("1.5", "0")}  # first writes, second writes, first reads
    builds = {}
    for commit, (before, after) in timing.items():
        overrides = {"GIT_COMMIT": commit, "STUB_BEFORE": before, "STUB_AFTER": after}
        started = codebuild.start_build(
            projectName="faults-exports",
            sourceVersion=commit,
            environmentVariablesOverride=[
                {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in overrides.items()
            ],
        )
        builds[started["build"]["id"]] = commit
    deadline = time.monotonic() + 120
    while True:
        records = codebuild.batch_get_builds(ids=list(builds))["builds"]
        if all(r["buildComplete"] for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for record in records:
        log = Path(unquote(urlparse(record["logs"]["deepLink"]).path))
        assert record["buildStatus"] == "SUCCEEDED", log.read_text() if log.is_file() else record
        exported = {v["name"]: v["value"] for v in record["exportedEnvironmentVariables"]}
        commit = builds[record["id"]]
        assert (exported["MODEL_VERSION"], exported["RUN_ID"]) == (commit, record["id"]), exported
