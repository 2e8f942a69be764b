"""One test per path of the state machine, on the real ASL (moto's interpreter) and real handlers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient

from mlops_pipeline.domain.models import ApprovalStatus
from tests.asl.conftest import Pipeline

pytestmark = [pytest.mark.asl, pytest.mark.slow]


def texts(pipeline: Pipeline, execution: str) -> list[str]:
    return [m.text for m in pipeline.thread(execution)]


def test_happy_path_approved(pipeline: Pipeline) -> None:
    commit = pipeline.commit({"name": "happy", "metrics": {"rmse": 3.0, "mae": 2.0}})
    stage_before, prod_before = pipeline.live("stage", "happy"), pipeline.live("prod", "happy")
    execution = pipeline.stack.start(commit)
    card = pipeline.wait_for_card(execution)
    assert {b["action_id"] for b in card.buttons} == {"approve", "reject"}
    status, _ = pipeline.click(card, "approve")
    assert status == 200
    result = pipeline.stack.wait(execution)
    assert result["status"] == "SUCCEEDED", pipeline.stack.states(execution)
    print("\n".join(f"{name:28s} {seconds:6.1f}s" for name, seconds in pipeline.stack.timings(execution)))

    stage_after, prod_after = pipeline.live("stage", "happy"), pipeline.live("prod", "happy")
    assert int(stage_after) == int(stage_before) + 1
    assert int(prod_after) == int(prod_before) + 1
    assert pipeline.invoke_live("prod", "happy", x=3.0)["predictions"] == [6.0]

    registry = MlflowClient(pipeline.mlflow.url)
    version = registry.get_model_version_by_alias("happy", "production")
    assert registry.get_model_version_by_alias("happy", "staging").version == version.version
    tags = version.tags
    assert tags["git_commit"] == commit
    assert tags["approved_by"] == "U0APPROVER"
    assert tags["prod_lambda_version"] == prod_after
    assert tags["stage_lambda_version"] == stage_after
    assert "deployed_prod_at" in tags
    bucket = pipeline.stack.artifacts_bucket
    assert tags["artifact_uri"].startswith(
        f"s3://{bucket}/serving/happy/happy-{version.version}.zip?versionId="
    )
    assert tags["artifact_kind"] == "zip"

    approvals = [a for a in pipeline.approvals.list_pending("happy")]
    assert approvals == []
    decided = pipeline.approvals.get(card.buttons[0]["value"])
    assert decided is not None
    assert decided.status is ApprovalStatus.APPROVED
    assert decided.decided_by == "U0APPROVER"

    thread = pipeline.thread(execution)
    final_card = pipeline.slack.message(card.ts)
    assert final_card is not None
    assert final_card.buttons == []  # decided: buttons removed
    joined = "\n".join(m.text for m in thread)
    for step in (
        "Build",
        "Evaluate",
        "DeployStage",
        "SmokeTestStage",
        "DeployProd",
        "SmokeTestProd",
        "PromoteProd",
    ):
        assert step in joined or step.replace("Stage", " stage").lower() in joined.lower(), step


def register_champion(pipeline: Pipeline, name: str, rmse: float) -> str:
    """A model version behind alias production, as an earlier successful run leaves it."""
    client = MlflowClient(pipeline.mlflow.url)
    experiment = client.get_experiment_by_name(name) or client.get_experiment(client.create_experiment(name))
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "rmse", rmse)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    ).version
    client.set_registered_model_alias(name, "production", version)
    return str(version)


def test_gate_fail_deploys_nothing(pipeline: Pipeline) -> None:
    champion = register_champion(pipeline, "gated", rmse=1.0)
    commit = pipeline.commit({"name": "gated", "metrics": {"rmse": 2.0}})
    stage_before = pipeline.live("stage", "gated")
    execution = pipeline.stack.start(commit)
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    assert pipeline.stack.states(execution)[-1] == "QualityGateFailed"
    assert "DeployStage" not in pipeline.stack.states(execution)
    assert pipeline.live("stage", "gated") == stage_before
    registry = MlflowClient(pipeline.mlflow.url)
    assert registry.get_model_version_by_alias("gated", "production").version == champion
    joined = "\n".join(texts(pipeline, execution))
    assert "Evaluate failed" in joined
    assert "rmse 2 &gt; 1" in joined  # mrkdwn-escaped ">"
    assert pipeline.runs.get(execution).status == "FAILED"


def test_stage_smoke_fail_rolls_back_stage(pipeline: Pipeline) -> None:
    commit = pipeline.commit({"name": "broken", "metrics": {"rmse": 3.0}, "behaviour": "broken"})
    stage_before, prod_before = pipeline.live("stage", "broken"), pipeline.live("prod", "broken")
    execution = pipeline.stack.start(commit)
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    states = pipeline.stack.states(execution)
    assert states[-3:] == ["RollbackStage", "ReportSmokeTestStageFailed", "SmokeTestStageFailed"]
    assert pipeline.live("stage", "broken") == stage_before
    assert pipeline.live("prod", "broken") == prod_before
    # The version that failed stays published (for inspection) but nothing serves it.
    versions = pipeline.emu.client("lambda", "stage").list_versions_by_function(
        FunctionName=pipeline.stack.inference_function_for("broken")
    )
    assert max(int(v["Version"]) for v in versions["Versions"] if v["Version"] != "$LATEST") > int(
        stage_before
    )
    joined = "\n".join(texts(pipeline, execution))
    assert "model file is corrupt" in joined
    assert f"live back to v{stage_before}" in joined
    # The lock is free again: a later run can deploy stage (checked by the next tests).


def test_reject_leaves_prod_untouched(pipeline: Pipeline) -> None:
    execution = pipeline.stack.start(pipeline.commit({"name": "rejected", "metrics": {"rmse": 3.0}}))
    prod_before = pipeline.live("prod", "rejected")
    card = pipeline.wait_for_card(execution)
    assert pipeline.click(card, "reject")[0] == 200
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    assert result.get("error") in (None, "ModelRejected") or "ModelRejected" in str(result)
    assert pipeline.stack.states(execution)[-1] == "ModelRejected"
    assert pipeline.live("prod", "rejected") == prod_before
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval.status is ApprovalStatus.REJECTED
    assert approval.decided_by == "U0APPROVER"
    registry = MlflowClient(pipeline.mlflow.url)
    with pytest.raises(Exception, match=r"alias|not found|RESOURCE_DOES_NOT_EXIST"):
        registry.get_model_version_by_alias("rejected", "production")


def test_approval_timeout_expires_and_stops(pipeline: Pipeline) -> None:
    short = pipeline.stack.add_state_machine("mlops-pipeline-short-approval", approval_timeout_seconds=20)
    commit = pipeline.commit({"name": "expiring", "metrics": {"rmse": 3.0}})
    prod_before = pipeline.live("prod", "expiring")
    execution = pipeline.stack.start(commit, state_machine_arn=short)
    card = pipeline.wait_for_card(execution)
    late_click = pipeline.slack.interaction_body(card.ts, "approve", "U0APPROVER")
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    assert pipeline.stack.states(execution)[-3:] == [
        "ExpireApproval",
        "ReportApprovalExpired",
        "ApprovalExpired",
    ]
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval.status is ApprovalStatus.EXPIRED
    assert pipeline.slack.message(card.ts).buttons == []
    # A late click (sent by a client that still shows the buttons) changes nothing.
    assert pipeline.post_signed(late_click) == 200
    assert pipeline.approvals.get(card.buttons[0]["value"]).status is ApprovalStatus.EXPIRED
    assert pipeline.live("prod", "expiring") == prod_before


def test_newer_run_supersedes_pending_approval(pipeline: Pipeline) -> None:
    first = pipeline.stack.start(pipeline.commit({"name": "superseded", "metrics": {"rmse": 3.0}}))
    first_card = pipeline.wait_for_card(first)
    second = pipeline.stack.start(pipeline.commit({"name": "superseded", "metrics": {"rmse": 2.5}}))
    second_card = pipeline.wait_for_card(second)
    result = pipeline.stack.wait(first)
    assert result["status"] == "FAILED"
    assert pipeline.stack.states(first)[-1] == "ApprovalSuperseded"
    assert pipeline.approvals.get(first_card.buttons[0]["value"]).status is ApprovalStatus.SUPERSEDED
    assert pipeline.approvals.get(second_card.buttons[0]["value"]).status is ApprovalStatus.PENDING
    pipeline.click(second_card, "reject")
    assert pipeline.stack.wait(second)["status"] == "FAILED"


def test_prod_smoke_fail_rolls_back_prod(pipeline: Pipeline) -> None:
    commit = pipeline.commit({"name": "prodbreak", "metrics": {"rmse": 3.0}, "behaviour": "broken-in-prod"})
    prod_before = pipeline.live("prod", "prodbreak")
    execution = pipeline.stack.start(commit)
    card = pipeline.wait_for_card(execution)
    pipeline.click(card, "approve")
    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    assert pipeline.stack.states(execution)[-3:] == [
        "RollbackProd",
        "ReportSmokeTestProdFailed",
        "SmokeTestProdFailed",
    ]
    assert pipeline.live("prod", "prodbreak") == prod_before
    registry = MlflowClient(pipeline.mlflow.url)
    staging = registry.get_model_version_by_alias("prodbreak", "staging")
    assert "deployed_prod_at" not in staging.tags
    with pytest.raises(Exception, match=r"alias|not found|RESOURCE_DOES_NOT_EXIST"):
        registry.get_model_version_by_alias("prodbreak", "production")


def test_double_click_decides_once(pipeline: Pipeline) -> None:
    execution = pipeline.stack.start(pipeline.commit({"name": "doubleclick", "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    approve = pipeline.slack.interaction_body(card.ts, "approve", "U0APPROVER")
    reject = pipeline.slack.interaction_body(card.ts, "reject", "U0APPROVER")
    # Three clicks in flight at once, as Slack delivers a frantic double click and a change of mind.
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(pipeline.post_signed, [approve, approve, reject]))
    assert statuses == [200, 200, 200]
    approval = pipeline.approvals.get(card.buttons[0]["value"])
    assert approval.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED)
    result = pipeline.stack.wait(execution)
    expected = "SUCCEEDED" if approval.status is ApprovalStatus.APPROVED else "FAILED"
    assert result["status"] == expected, pipeline.stack.states(execution)
    assert pipeline.stack.states(execution).count("RequestApproval") == 1
    ephemerals = [e.text for e in pipeline.slack.ephemerals() if e.user == "U0APPROVER"]
    assert any("already" in text for text in ephemerals)


def test_forged_click_changes_nothing(pipeline: Pipeline) -> None:
    """A click signed with another secret reaches the real endpoint and is refused with 401."""
    execution = pipeline.stack.start(pipeline.commit({"name": "forged", "metrics": {"rmse": 3.0}}))
    card = pipeline.wait_for_card(execution)
    body = pipeline.slack.interaction_body(card.ts, "approve", "U0APPROVER")
    assert pipeline.post_signed(body, secret="not-the-signing-secret") == 401
    assert pipeline.approvals.get(card.buttons[0]["value"]).status is ApprovalStatus.PENDING
    pipeline.click(card, "reject")
    assert pipeline.stack.wait(execution)["status"] == "FAILED"


def test_forged_task_success_cannot_reach_prod(pipeline: Pipeline) -> None:
    """SendTaskSuccess by whoever holds the token, with a made-up approval: DeployProd refuses."""
    execution = pipeline.stack.start(pipeline.commit({"name": "forgedsuccess", "metrics": {"rmse": 3.0}}))
    prod_before = pipeline.live("prod", "forgedsuccess")
    card = pipeline.wait_for_card(execution)
    late_click = pipeline.slack.interaction_body(card.ts, "approve", "U0APPROVER")
    approval_id = card.buttons[0]["value"]
    pending = pipeline.approvals.get(approval_id)
    assert pending is not None
    forged = {
        "approval_id": "made-up-approval-id",
        "approved_by": "U0APPROVER",
        "approved_at": "2026-01-01T00:00:00Z",
    }
    pipeline.emu.client("stepfunctions").send_task_success(
        taskToken=pending.task_token, output=json.dumps(forged)
    )

    result = pipeline.stack.wait(execution)
    assert result["status"] == "FAILED"
    states = pipeline.stack.states(execution)
    assert states[-3:] == ["DeployProd", "ReportDeployProdRefused", "DeployProdRefused"], states
    assert pipeline.live("prod", "forgedsuccess") == prod_before
    assert "ApprovalRequiredError" in "\n".join(texts(pipeline, execution))

    # A click on the card of the finished run is refused and ends the approval (no decision).
    assert pipeline.post_signed(late_click) == 200
    ended = pipeline.approvals.get(approval_id)
    assert ended is not None and ended.status is ApprovalStatus.CANCELLED, ended
    assert pipeline.slack.message(card.ts).buttons == []
    told = [e.text for e in pipeline.slack.ephemerals() if e.user == "U0APPROVER"]
    assert told and ("no longer waiting" in told[-1] or "cancelled" in told[-1]), told
    assert pipeline.live("prod", "forgedsuccess") == prod_before
