"""The function catalogue: the same functions in Python, Terraform and the ASL; one environment each."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_pipeline import functions, packaging, statemachine

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_TF = ROOT / "terraform" / "modules" / "pipeline" / "lambda.tf"


def _terraform_list(name: str) -> set[str]:
    """The string literals of ``name = [...]`` / ``toset([...])`` in the pipeline module's lambda.tf."""
    match = re.search(
        rf"^  {name} = (?:setsubtract\()?(?:toset\()?\[(.*?)\]", LAMBDA_TF.read_text(), flags=re.S | re.M
    )
    assert match, f"{name} not found in {LAMBDA_TF}"
    return set(re.findall(r'"([a-z_]+)"', match.group(1)))


def test_python_and_terraform_define_the_same_functions() -> None:
    assert set(functions.BY_NAME) == _terraform_list("function_keys")
    assert set(statemachine.ASL_FUNCTIONS) == _terraform_list("asl_functions")
    assert set(statemachine.ASL_FUNCTIONS) <= set(functions.BY_NAME)
    # The functions Terraform leaves out with a CodeCommit source are functions.WEBHOOK_ONLY.
    match = re.search(
        r"^  function_keys = setsubtract\(.*?\]\), local\.webhook_enabled \? \[\] : \[(.*?)\]\)",
        LAMBDA_TF.read_text(),
        flags=re.S | re.M,
    )
    assert match and set(re.findall(r'"([a-z_]+)"', match.group(1))) == functions.WEBHOOK_ONLY


def test_every_function_runs_a_packaged_handler_module() -> None:
    packaged = {m for modules in packaging.PACKAGE_FUNCTIONS.values() for m in modules}
    assert {f.handler for f in functions.FUNCTIONS} == packaged


def test_deploy_smoke_test_and_rollback_run_once_per_environment() -> None:
    bound = {f.name: f for f in functions.FUNCTIONS if f.environment is not None}
    assert sorted(bound) == sorted(
        f"{m}_{e}" for m in functions.PER_ENVIRONMENT for e in functions.ENVIRONMENTS
    )
    assert all(f.name == f"{f.handler}_{f.environment}" for f in bound.values())


def test_each_environment_s_states_invoke_that_environment_s_functions() -> None:
    values = {
        f"{n}_function_arn": f"arn:aws:lambda:us-east-1:111111111111:function:mlops-{n}"
        for n in statemachine.ASL_FUNCTIONS
    }
    states = statemachine.definition(
        {**values, "codebuild_project": "p", "train_project": "t", "approval_timeout_seconds": "60"}
    )["States"]
    for environment, label in (("stage", "Stage"), ("prod", "Prod")):
        for module, step in (("deploy", "Deploy"), ("smoke_test", "SmokeTest"), ("rollback", "Rollback")):
            state = states[f"{step}{label}"]
            assert state["Resource"] == values[f"{module}_{environment}_function_arn"], state
            assert state["Parameters"]["environment"] == environment
    # Wherever an environment's function is invoked, the state names that same environment.
    by_arn = {values[f"{f.name}_function_arn"]: f for f in functions.FUNCTIONS if f.environment}
    invoked = [(n, by_arn[s["Resource"]]) for n, s in states.items() if s.get("Resource") in by_arn]
    # Each is invoked (the rollback functions after a failed smoke test and to recover a failed
    # deploy, prod's also after a breached rollout; deploy_prod also runs the rollout's steps),
    # always with its own environment.
    assert {f.name for _, f in invoked} == {f.name for f in by_arn.values()}
    assert [n for n, f in invoked if f.handler == "rollback"] == [
        "RecoverStage",
        "RollbackStage",
        "RecoverProd",
        "RollbackProd",
        "RollbackRolloutProd",
    ]
    assert [n for n, f in invoked if f.name == "deploy_prod"] == [
        "DeployProd",
        "ShiftTrafficProd",
        "CheckBakeProd",
    ]
    assert all(states[n]["Parameters"]["environment"] == f.environment for n, f in invoked)
