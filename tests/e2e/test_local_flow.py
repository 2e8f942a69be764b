"""The whole flow on the local stack: real git push, real build, Lambdas in both accounts, Slack approval."""

from __future__ import annotations

import re

import pytest
from mlflow import MlflowClient

from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore
from mlops_pipeline.domain.models import ApprovalStatus, Artifact
from mlops_pipeline.local.stack import demo
from mlops_pipeline.local.stack.client import card_buttons
from tests.e2e.conftest import E2E, SEED_MODEL, Run, production_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEPS_IN_THREAD = ("Build", "Evaluate", "DeployStage", "SmokeTestStage", "DeployProd", "SmokeTestProd")


def live_version(e2e: E2E, environment: str, model: str = SEED_MODEL) -> str:
    return demo.alias_version(e2e.client, environment, model)


def published_code(e2e: E2E, environment: str, version: str, model: str = SEED_MODEL) -> str:
    """CodeSha256 of a published version (base64 of the zip's sha256, as Lambda reports it)."""
    lam = e2e.client.client("lambda", environment)
    name = e2e.info.function_of(model, environment)
    function = lam.get_function(FunctionName=name, Qualifier=version)
    assert function["Configuration"]["Version"] == version
    return str(function["Configuration"]["CodeSha256"])


def thread_texts(e2e: E2E, run: Run) -> tuple[list[dict], str]:
    record = e2e.client.runs().get(run.execution)
    assert record is not None and record.slack_thread_ts, "the run has no Slack thread"
    messages = e2e.client.thread(record.slack_thread_ts)
    return messages, "\n".join(m["text"] for m in messages)


def approval_of(e2e: E2E, run: Run) -> str:
    """The approval id on the run's card (the card keeps it in its blocks after the decision)."""
    messages, _ = thread_texts(e2e, run)
    ids = re.findall(r'"value":\s*"([^"]+)"', str([m["blocks"] for m in messages]).replace("'", '"'))
    approvals = DynamoApprovalStore(e2e.info.table, client=e2e.client.client("dynamodb"))
    for candidate in ids:
        if approvals.get(candidate) is not None:
            return candidate
    # Buttons are removed once decided: find the approval by the execution instead.
    model = run.result.model_name
    db = e2e.client.client("dynamodb")
    items = db.query(
        TableName=e2e.info.table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"APPROVALS#{model}"}},
    )["Items"]
    for item in items:
        if item.get("execution", {}).get("S") == run.execution:
            return str(item["pk"]["S"]).removeprefix("APPROVAL#")
    raise AssertionError(f"no approval record for {run.execution}")


def test_push_build_stage_approve_prod(e2e: E2E) -> None:
    stage_before, prod_before = live_version(e2e, "stage"), live_version(e2e, "prod")
    run = e2e.run(e2e.project("seed"), "approve")
    result = run.result
    assert run.view.status == "SUCCEEDED", f"{run.view.error}: {run.view.cause}\n{run.log}"
    assert result.outcome == "succeeded"
    assert result.last_line().startswith("demo: succeeded total_s=")

    # Both accounts' `live` aliases moved to newly published versions of the build's zip.
    model = result.evaluation
    artifact = Artifact.from_dict(model["artifact"])
    assert artifact.kind == "zip"
    assert int(result.stage_version) > int(stage_before)
    assert int(result.prod_version) > int(prod_before)
    assert published_code(e2e, "stage", result.stage_version) == artifact.lambda_code_sha256
    assert published_code(e2e, "prod", result.prod_version) == artifact.lambda_code_sha256
    deploy_prod = run.view.outputs["DeployProd"]["deploy_prod"]
    assert deploy_prod["new_version"] == result.prod_version

    # Registry: aliases and lineage tags (commit -> run -> version -> zip -> Lambda versions).
    registry = MlflowClient(e2e.info.mlflow_url)
    version = registry.get_model_version_by_alias(result.model_name, "production")
    assert version.version == result.model_version
    assert registry.get_model_version_by_alias(result.model_name, "staging").version == version.version
    tags = version.tags
    assert tags["git_commit"] == run.commit
    assert tags["pipeline_execution"] == run.execution
    assert (tags["artifact_uri"], tags["artifact_sha256"]) == (artifact.uri, artifact.sha256)
    assert artifact.uri.endswith(f"?versionId={tags['artifact_s3_version']}")
    assert tags["stage_lambda_version"] == result.stage_version
    assert tags["prod_lambda_version"] == result.prod_version
    assert tags["approved_by"] == "U0APPROVER" == result.approver
    assert version.run_id == model["run_id"]

    # The approval record names the approver.
    approvals = DynamoApprovalStore(e2e.info.table, client=e2e.client.client("dynamodb"))
    approval = approvals.get(approval_of(e2e, run))
    assert approval is not None
    assert approval.status is ApprovalStatus.APPROVED
    assert approval.decided_by == "U0APPROVER"

    # One Slack thread holds the card (decided: no buttons) and the progress messages.
    messages, joined = thread_texts(e2e, run)
    assert not any(card_buttons(m) for m in messages), "a decided card still has buttons"
    assert any("U0APPROVER" in str(m["blocks"]) or "approver" in m["text"].lower() for m in messages)
    for step in STEPS_IN_THREAD:
        assert step in joined or re.sub(r"(?<!^)(?=[A-Z])", " ", step).lower() in joined.lower(), step

    # A real prediction from prod's alias.
    assert result.prediction is not None
    predictions = result.prediction["response"]["predictions"]
    assert len(predictions) == len(model["smoke_input"]["data"])
    assert all(isinstance(p, float) and p > 0 for p in predictions)


def test_reject_leaves_prod_untouched(e2e: E2E, champion: str) -> None:
    stage_before, prod_before = live_version(e2e, "stage"), live_version(e2e, "prod")
    registry = MlflowClient(e2e.info.mlflow_url)
    project = e2e.project("rejected")
    train = project / "train.py"
    train.write_text(train.read_text() + "\n# a change the approver does not like\n")
    run = e2e.run(project, "reject", via_cli=True)  # `mlops-pipeline local reject <run>`
    assert run.view.status == "FAILED"
    assert run.result.outcome == "rejected"
    assert run.view.steps[-1].name == "ModelRejected"
    # Stage got the candidate; prod did not move, and production still names the champion.
    assert int(live_version(e2e, "stage")) > int(stage_before)
    assert live_version(e2e, "prod") == prod_before
    assert "DeployProd" not in [s.name for s in run.view.steps]
    assert production_version(registry) == champion
    # The candidate was compared with the champion.
    assert run.result.evaluation["champion_version"] == champion
    approvals = DynamoApprovalStore(e2e.info.table, client=e2e.client.client("dynamodb"))
    approval = approvals.get(approval_of(e2e, run))
    assert approval is not None
    assert approval.status is ApprovalStatus.REJECTED
    assert approval.decided_by == "U0APPROVER"


def test_broken_smoke_test_rolls_back_stage(e2e: E2E, champion: str) -> None:
    # ``champion``: stage must serve a real model before (not the placeholder), whatever ran first.
    stage_before, prod_before = live_version(e2e, "stage"), live_version(e2e, "prod")
    lam = e2e.client.client("lambda", "stage")
    function = e2e.info.function_of(SEED_MODEL, "stage")
    saved = lam.get_function_configuration(FunctionName=function).get("Environment", {}).get("Variables", {})
    # The build refuses a model that fails its own smoke input, so break what the next stage
    # version serves instead: its model folder is missing, the function fails at invoke as a broken
    # artifact would. Published versions keep their own configuration, so rollback restores service.
    lam.update_function_configuration(
        FunctionName=function,
        Environment={"Variables": {**saved, "SERVING_MODEL_DIR": "/nonexistent/model"}},
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    try:
        run = e2e.run(e2e.project("broken"), "approve")
    finally:
        lam.update_function_configuration(FunctionName=function, Environment={"Variables": saved})
    assert run.view.status == "FAILED"
    names = [s.name for s in run.view.steps]
    assert names[-3:] == ["SmokeTestStage", "RollbackStage", "SmokeTestStageFailed"], names
    assert run.view.steps[names.index("SmokeTestStage")].status == "failed"
    assert live_version(e2e, "stage") == stage_before
    assert live_version(e2e, "prod") == prod_before
    # The failed version stays published (for inspection), but `live` does not serve it.
    versions = lam.list_versions_by_function(FunctionName=function)["Versions"]
    assert max(int(v["Version"]) for v in versions if v["Version"] != "$LATEST") > int(stage_before)
    _, joined = thread_texts(e2e, run)
    assert "the serving model is not available" in joined
    assert f"live back to v{stage_before}" in joined
    # Stage still answers from the version it went back to.
    request = run.result.evaluation["smoke_input"]
    assert len(demo.predict(e2e.client, "stage", request, SEED_MODEL)["predictions"]) == len(request["data"])


def test_demo_command_second_run_compares_with_the_champion(e2e: E2E, champion: str) -> None:
    from typer.testing import CliRunner

    from mlops_pipeline.cli.main import app

    result = CliRunner().invoke(
        app, ["demo", "--auto-approve", "--state-dir", e2e.info.state_dir, "--timeout", "420"]
    )
    print(result.output)
    assert result.exit_code == 0, result.output
    assert "using the running local stack" in result.output
    assert "prediction from prod (alias live):" in result.output
    assert f"vs champion v{champion}" in result.output
    last = result.output.strip().splitlines()[-1]
    match = re.fullmatch(
        r"demo: succeeded total_s=\d+\.\d model=delivery-time version=(\d+) stage=(\d+) prod=(\d+)", last
    )
    assert match, last
    version, stage_version, prod_version = match.groups()
    assert live_version(e2e, "stage") == stage_version
    assert live_version(e2e, "prod") == prod_version
    registry = MlflowClient(e2e.info.mlflow_url)
    assert production_version(registry) == version
