"""terraform apply of terraform/live/local against the embedded emulator (opt-in, ~2-3 minutes).

Run with ``MLOPS_TF_APPLY=1 pytest -m terraform tests/terraform/test_local_apply.py``. It
builds the host packages, applies the local root (three accounts via AssumeRole), checks
what the local harness relies on, and that a second plan is empty (no drift).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline import functions, packaging, statemachine, tf

pytestmark = [pytest.mark.terraform, pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# (emulator, terraform outputs, the second plan)
Applied = tuple[Any, dict[str, Any], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str) -> Iterator[Applied]:
    if os.environ.get("MLOPS_TF_APPLY") != "1":
        pytest.skip(
            "opt-in (about 3 minutes): set MLOPS_TF_APPLY=1 to apply terraform/live/local to the emulator"
        )
    from mlops_pipeline.local.emulator.emulator import Emulator

    work = tmp_path_factory.mktemp("tf-apply")
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
    shutil.copytree(REPO / "terraform", work / "terraform", ignore=ignore)
    shutil.copytree(REPO / "statemachine", work / "statemachine")
    dist = work / "dist"
    packaging.build_all(dist, "host")
    with Emulator(work / "state") as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(emu.env("tooling"))
        env.pop("AWS_ENDPOINT_URL")  # the root passes the endpoint per service, like a user would
        runner = tf.Terraform(
            work / "terraform" / tf.LOCAL_ROOT, binary=terraform_bin, data_dir=work / "data", env=env
        )
        variables = {"endpoint_url": emu.endpoint_url, "lambda_dist_dir": str(dist)}
        runner.init()
        runner.apply(variables)
        outputs = runner.output()
        replan = runner.run(
            "plan", "-detailed-exitcode", "-no-color", *runner._var_args(variables, None), check=False
        )
        yield emu, outputs, replan


def test_local_root_applies_without_drift(applied: Applied) -> None:
    _, outputs, replan = applied
    assert replan.returncode == 0, f"second plan is not empty:\n{replan.stdout[-4000:]}"
    # The local root pushes to CodeCommit: the webhook's function exists with github/gitlab only.
    assert set(outputs["function_names"]) == set(functions.BY_NAME) - functions.WEBHOOK_ONLY


def test_state_machine_matches_the_python_rendering(applied: Applied) -> None:
    emu, outputs, _ = applied
    sfn = emu.client("stepfunctions", "tooling")
    deployed = sfn.describe_state_machine(stateMachineArn=outputs["state_machine_arn"])["definition"]
    values = {f"{f}_function_arn": outputs["function_arns"][f] for f in statemachine.ASL_FUNCTIONS}
    values |= {
        "codebuild_project": outputs["codebuild_project_name"],
        "train_project": outputs["train_project_name"],
        "approval_timeout_seconds": "86400",
    }
    assert json.loads(deployed) == json.loads(statemachine.render(values))


def test_targets_live_in_their_own_accounts(applied: Applied) -> None:
    emu, outputs, _ = applied
    for environment, account in (("stage", "222222222222"), ("prod", "333333333333")):
        target = outputs["deploy_targets"][environment]
        assert target["role_arn"] == f"arn:aws:iam::{account}:role/mlops-deploy"
        # One function per declared model (the root's default: delivery-time), each with alias live.
        assert set(target["functions"]) == set(outputs["declared_models"]) == {"delivery-time"}
        for function in target["functions"].values():
            lam = emu.client("lambda", environment)
            alias = lam.get_alias(FunctionName=function["function_name"], Name="live")
            assert alias["AliasArn"].split(":")[4] == account
        trust = emu.client("iam", environment).get_role(RoleName="mlops-deploy")["Role"][
            "AssumeRolePolicyDocument"
        ]
        # Only this environment's deploy and rollback functions; its smoke test gets the invoke role.
        assert _principals(trust) == {
            f"arn:aws:iam::111111111111:role/mlops-{n}-{environment}-lambda" for n in ("deploy", "rollback")
        }
        assert target["invoke_role_arn"] == f"arn:aws:iam::{account}:role/mlops-smoke-test"
        invoke = emu.client("iam", environment).get_role(RoleName="mlops-smoke-test")["Role"]
        assert _principals(invoke["AssumeRolePolicyDocument"]) == {
            f"arn:aws:iam::111111111111:role/mlops-smoke-test-{environment}-lambda"
        }


def test_functions_get_the_documented_settings(applied: Applied) -> None:
    emu, outputs, _ = applied
    lam = emu.client("lambda", "tooling")
    config = lam.get_function_configuration(FunctionName=outputs["function_names"]["deploy_prod"])
    variables = config["Environment"]["Variables"]
    prod = {k: v for k, v in outputs["deploy_targets"]["prod"].items() if k != "invoke_role_arn"}
    assert json.loads(variables["DEPLOY_TARGETS"]) == {"prod": prod}  # its own environment only
    assert "function_name" not in prod and set(prod["functions"]) == {"delivery-time"}
    evaluate = lam.get_function_configuration(FunctionName=outputs["function_names"]["evaluate"])
    assert evaluate["Environment"]["Variables"]["DECLARED_MODELS"] == ",".join(outputs["declared_models"])
    assert variables["MLOPS_TABLE"] == outputs["table_name"]
    assert config["Handler"] == "mlops_pipeline.handlers.deploy.handler"
    assert "SLACK_SIGNING_SECRET_ARN" not in variables
    interactions = lam.get_function_configuration(
        FunctionName=outputs["function_names"]["slack_interactions"]
    )
    signing = interactions["Environment"]["Variables"]["SLACK_SIGNING_SECRET_ARN"]
    assert signing == outputs["slack_signing_secret_arn"] != outputs["slack_secret_arn"]
    # The Roll back prod button starts the real prod rollback function; prod rolls out gradually
    # (the local root's short steps), and only deploy_prod is told how.
    rollback = outputs["prod_rollback_function_name"]
    assert interactions["Environment"]["Variables"]["PROD_ROLLBACK_FUNCTION"] == rollback
    assert lam.get_function_configuration(FunctionName=rollback)["Handler"] == (
        "mlops_pipeline.handlers.rollback.handler"
    )
    assert (variables["ROLLOUT_MODE"], variables["ROLLOUT_STEPS"]) == ("gradual", "50,100")
    assert variables["ROLLOUT_METRICS_DELAY_SECONDS"] == "0"
    stage = lam.get_function_configuration(FunctionName=outputs["function_names"]["deploy_stage"])
    assert not [name for name in stage["Environment"]["Variables"] if name.startswith("ROLLOUT_")]


def _principals(trust: dict[str, Any]) -> set[str]:
    return {p for s in trust["Statement"] for p in _as_list(s["Principal"]["AWS"])}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
