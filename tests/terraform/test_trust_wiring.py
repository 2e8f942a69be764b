"""Each root hands every target account its own environment's tooling roles, and nothing else.

live/local proves the rendered trust policies with a plan (terraform/live/local/tests); live/aws
cannot be planned offline (its ephemeral MLflow passwords need Secrets Manager), so here both
roots' module calls are read: module.stage gets the pipeline's ["stage"] roles, module.prod its
["prod"] roles, for the deploy role and for the smoke test's invoke role.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_pipeline import tf

pytestmark = pytest.mark.terraform

REPO = Path(__file__).resolve().parents[2]


def module_block(text: str, name: str) -> str:
    """The body of ``module "<name>" { ... }`` (braces matched; enough for these plain files)."""
    start = text.index(f'module "{name}" {{')
    depth = 0
    for i in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise ValueError(f"module {name} is not closed")


def argument(block: str, name: str) -> str:
    match = re.search(rf"^\s*{name}\s*=\s*(.+)$", block, flags=re.M)
    assert match, f"{name} not set"
    return match.group(1).strip()


@pytest.mark.parametrize("root", tf.ROOTS)
def test_each_target_account_gets_its_own_environment_s_roles(root: str) -> None:
    text = (REPO / "terraform" / root / "main.tf").read_text()
    for environment in ("stage", "prod"):
        block = module_block(text, environment)
        assert argument(block, "environment") == f'"{environment}"'
        assert argument(block, "deployer_role_arns") == f'module.pipeline.deployer_role_arns["{environment}"]'
        assert (
            argument(block, "smoke_test_role_arns")
            == f'module.pipeline.smoke_test_role_arns["{environment}"]'
        )


def test_the_check_reads_a_block_and_refuses_a_crossed_wiring() -> None:
    crossed = 'module "prod" {\n  environment = "prod"\n  deployer_role_arns = module.pipeline.deployer_role_arns["stage"]\n}\n'
    block = module_block(crossed, "prod")
    assert argument(block, "deployer_role_arns") != 'module.pipeline.deployer_role_arns["prod"]'


def resource_block(text: str, kind: str, name: str) -> str:
    return module_block(
        text.replace(f'resource "{kind}" "{name}" {{', f'module "{kind}.{name}" {{'), f"{kind}.{name}"
    )


def test_live_aws_attaches_mlflow_s_artifact_policy_to_the_module_s_codebuild_role() -> None:
    """The role comes from the pipeline module's output, not from a guess at its name."""
    text = (REPO / "terraform" / "live" / "aws" / "main.tf").read_text()
    block = resource_block(text, "aws_iam_role_policy_attachment", "build_mlflow_artifacts")
    assert argument(block, "role") == "module.pipeline.codebuild_role_name"
    assert argument(block, "policy_arn") == "module.mlflow.artifact_client_policy_arn"


@pytest.mark.parametrize("root", tf.ROOTS)
def test_both_roots_pass_the_rollout_and_output_the_prod_rollback_function(root: str) -> None:
    """live/aws cannot be planned offline: its pipeline call is read (live/local also has a plan test)."""
    main = (REPO / "terraform" / root / "main.tf").read_text()
    assert argument(module_block(main, "pipeline"), "rollout") == "var.rollout"
    outputs = (REPO / "terraform" / root / "outputs.tf").read_text()
    block = outputs[outputs.index('output "prod_rollback_function_name" {') :]
    assert argument(block, "value") == "module.pipeline.prod_rollback_function_name"
