import json
from pathlib import Path

import pytest

from mlops_pipeline import config, statemachine
from mlops_pipeline.domain.errors import STABLE_ERROR_NAMES, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def values() -> dict[str, str]:
    out = {
        f"{n}_function_arn": f"arn:aws:lambda:us-east-1:111111111111:function:mlops-{n}"
        for n in statemachine.ASL_FUNCTIONS
    }
    out.update(codebuild_project="mlops-build", train_project="mlops-train", approval_timeout_seconds="60")
    return out


def test_configuration_doc_is_generated_from_settings() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == config.render_markdown()


def test_required_setting_missing_is_clear() -> None:
    with pytest.raises(ConfigError, match="MLOPS_TABLE is required"):
        config.get("MLOPS_TABLE", {})
    assert config.get("GATE_METRIC", {}) == "rmse"
    with pytest.raises(ConfigError, match="not a documented setting"):
        config.get("NOPE", {})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"stage": {"functions": {"m": "f"}}}', "needs role_arn and functions"),
        ('{"stage": {"role_arn": "x"}}', "must map each declared model"),
        ('{"stage": {"role_arn": "x", "function_name": "f"}}', "now needs `functions`.*`models`"),
        ('{"stage": {"role_arn": "x", "functions": {"m": {}}}}', r"functions\['m'\] needs function_name"),
        (
            '{"stage": {"role_arn": "x", "functions": {"m": {"function_name": "f", "smoke_max_latency_ms": 0}}}}',
            "must be a positive number",
        ),
    ],
)
def test_deploy_targets_validation(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.deploy_targets({"DEPLOY_TARGETS": raw})


def test_deploy_targets_parse() -> None:
    functions = {
        "ships": "stage-ships",
        "churn": {"function_name": "stage-churn", "smoke_max_latency_ms": 900},
    }
    targets = config.deploy_targets(
        {"DEPLOY_TARGETS": json.dumps({"stage": {"role_arn": "r", "functions": functions}})}
    )
    assert targets["stage"].alias == "live"
    assert targets["stage"].function_for("ships") == config.ModelFunction("ships", "stage-ships", None)
    assert targets["stage"].function_for("churn") == config.ModelFunction("churn", "stage-churn", 900.0)
    with pytest.raises(ConfigError, match="no deploy target 'prod'"):
        targets["prod"]
    with pytest.raises(
        ConfigError,
        match=r"'fraud' is not declared in stage: add it to the Terraform variable `models`.*declared: churn, ships\)$",
    ):
        targets["stage"].function_for("fraud")


def test_declared_models() -> None:
    assert config.declared_models({}) is None  # a developer's own build: no check
    config.check_declared("anything", {})
    env = {"DECLARED_MODELS": "ships, churn"}
    assert config.declared_models(env) == {"ships", "churn"}
    config.check_declared("churn", env)
    with pytest.raises(ConfigError, match=r"'fraud' is not declared.*Terraform variable `models`"):
        config.check_declared("fraud", env)


def test_bool_and_number_settings() -> None:
    assert config.get_bool("ALLOW_SELF_APPROVAL", {"ALLOW_SELF_APPROVAL": "TRUE"}) is True
    with pytest.raises(ConfigError):
        config.get_bool("ALLOW_SELF_APPROVAL", {"ALLOW_SELF_APPROVAL": "maybe"})
    with pytest.raises(ConfigError):
        config.get_float("GATE_TOLERANCE", {"GATE_TOLERANCE": "x"})


def test_template_is_valid_json_and_placeholders_are_the_documented_ones() -> None:
    raw = statemachine.template_path().read_text()
    json.loads(raw)
    assert statemachine.placeholders(raw) == set(values())
    contracts = (ROOT / "docs" / "contracts.md").read_text()
    assert "${codebuild_project}" in contracts and "${approval_timeout_seconds}" in contracts


def test_render_refuses_missing_and_unknown_values() -> None:
    with pytest.raises(ConfigError, match="missing"):
        statemachine.render({k: v for k, v in values().items() if k != "codebuild_project"})
    with pytest.raises(ConfigError, match="unknown"):
        statemachine.render({**values(), "extra": "x"})


def test_every_transition_targets_an_existing_state_and_all_are_reachable() -> None:
    asl = statemachine.definition(values())
    states = asl["States"]
    targets = {asl["StartAt"]}
    for state in states.values():
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", [])]
        nexts += [c["Next"] for c in state.get("Catch", [])]
        for n in filter(None, nexts):
            assert n in states, n
            targets.add(n)
    assert set(states) == targets, set(states) - targets


def test_catches_use_stable_error_names_only() -> None:
    asl = statemachine.definition(values())
    allowed = set(STABLE_ERROR_NAMES) | {"States.ALL", "States.Timeout", "States.TaskFailed"}
    for name, state in asl["States"].items():
        for catch in state.get("Catch", []):
            assert set(catch["ErrorEquals"]) <= allowed, name
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{name} has no retry on transient errors"


def test_every_path_ends_where_the_issue_says() -> None:
    states = statemachine.definition(values())["States"]
    fails = {n for n, s in states.items() if s["Type"] == "Fail"}
    assert {"QualityGateFailed", "ModelRejected", "ApprovalExpired", "ApprovalSuperseded"} <= fails
    assert {"SmokeTestStageFailed", "SmokeTestProdFailed"} <= fails
    assert states["SmokeTestStage"]["Catch"][0]["Next"] == "RollbackStage"
    assert states["SmokeTestProd"]["Catch"][0]["Next"] == "RollbackProd"
    approval = states["RequestApproval"]
    assert approval["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert "$$.Task.Token" in json.dumps(approval["Parameters"])


def test_a_report_never_changes_the_outcome() -> None:
    """Whatever a Report* task raises (its Lambda crashed, timed out or was throttled past the
    retries), the run goes on to the same state as after a good report, keeping ``$.error``."""
    states = statemachine.definition(values())["States"]
    report_arn = values()["report_function_arn"]
    reports = {n: s for n, s in states.items() if s["Type"] == "Task" and s["Resource"] == report_arn}
    assert {"ReportStart", "ReportSucceeded", "ReportSmokeTestStageFailed"} <= set(reports)
    for name, state in reports.items():
        catch = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.report_error", "Next": state["Next"]}
        assert state["Catch"] == [catch], name


def test_an_approval_that_could_not_be_stored_ends_in_its_own_state() -> None:
    """ApprovalRequestFailed (no record, so nobody could decide) -> ApprovalNotRequested; a card
    that could not be posted is no error at all (the run waits on the record)."""
    states = statemachine.definition(values())["States"]
    catches = states["RequestApproval"]["Catch"]
    names = [c["ErrorEquals"] for c in catches]
    assert names.index(["ApprovalRequestFailed"]) < names.index(["States.ALL"])
    report = states[catches[names.index(["ApprovalRequestFailed"])]["Next"]]
    assert report["Parameters"]["step"] == "Approval" and report["Parameters"]["status"] == "FAILED"
    assert report["Next"] == "ApprovalNotRequested"
    assert states["ApprovalNotRequested"] == {
        "Type": "Fail",
        "Error": "ApprovalNotRequested",
        "Cause": "The approval record could not be stored, so nobody could decide; prod was not touched.",
    }


def test_deploy_prod_rechecks_the_approval_and_a_refusal_ends_in_its_own_state() -> None:
    states = statemachine.definition(values())["States"]
    deploy_prod = states["DeployProd"]
    # The whole RequestApproval output (a forged one may lack approval_id: the Lambda refuses it).
    assert deploy_prod["Parameters"]["approval.$"] == "$.approval"
    assert states["RequestApproval"]["ResultPath"] == "$.approval"
    first = deploy_prod["Catch"][0]
    assert first["ErrorEquals"] == ["ApprovalRequiredError"]
    assert states[first["Next"]]["Next"] == "DeployProdRefused"
    assert states["DeployProdRefused"]["Type"] == "Fail"
    retried = {e for r in deploy_prod["Retry"] for e in r["ErrorEquals"]}
    assert "ApprovalRequiredError" not in retried and "States.ALL" not in retried
    assert "approval.$" not in json.dumps(states["DeployStage"]["Parameters"])


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_a_failed_deploy_is_recovered_by_its_own_environments_rollback_before_the_report(env: str) -> None:
    """Refused before anything moved: straight to the report. Any other failure (its answer may be
    lost after live moved): the environment's rollback function in recover mode, whose answer is
    the error the report posts; a failed recovery ends in Rollback<Env>Failed."""
    states = statemachine.definition(values())["States"]
    label = env.title()
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in states[f"Deploy{label}"]["Catch"]}
    assert catches[("DeploymentLockedError",)] == f"ReportDeploy{label}Failed"
    # A newer commit already live: nothing moved, the run ends superseded, not failed.
    assert catches[("StaleCommitError",)] == f"ReportNewerCommitLive{label}"
    superseded = states[f"ReportNewerCommitLive{label}"]
    assert (
        superseded["Parameters"]["status"] == "SUPERSEDED"
        and superseded["Parameters"]["step"] == f"Deploy{label}"
    )
    assert superseded["Next"] == "NewerCommitLive" and states["NewerCommitLive"]["Type"] == "Fail"
    assert catches[("States.ALL",)] == f"Recover{label}"
    recover = states[f"Recover{label}"]
    assert recover["Resource"] == values()[f"rollback_{env}_function_arn"]  # this environment's roles only
    assert recover["Parameters"] == {
        "execution.$": "$.execution",
        "environment": env,
        "mode": "recover",
        "model.$": "$.model",
        "error.$": "$.error",
    }
    assert recover["ResultPath"] == "$.error" and recover["Next"] == f"ReportDeploy{label}Failed"
    assert states[f"ReportDeploy{label}Failed"]["Parameters"]["error.$"] == "$.error"
    assert states[f"ReportDeploy{label}Failed"]["Next"] == f"Deploy{label}Failed"
    (failed,) = recover["Catch"]
    assert failed["ErrorEquals"] == ["States.ALL"] and failed["ResultPath"] == "$.rollback_error"
    report = states[failed["Next"]]
    assert report["Parameters"]["step"] == f"Recover{label}" and report["Next"] == f"Rollback{label}Failed"
    assert "by hand" in report["Parameters"]["error"]["Cause.$"]
