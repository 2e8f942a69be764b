"""The provisioned functions on the emulator: each secret, target and environment where it belongs.

The harness provisions the pipeline as Terraform does (one role per function, two Slack secrets,
DEPLOY_TARGETS of one environment per deploy/smoke/rollback function naming each declared model's
function, per-environment trust in the target accounts). The emulator does not evaluate IAM for
these roles, so what is checked here is the wiring the functions run with, and that a deployed
stage function refuses prod and an undeclared model on its own; the IAM policies themselves are
asserted by the Terraform tests (terraform/modules/pipeline/tests, target_account/tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_pipeline import functions
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.errors import HarnessError
from mlops_pipeline.local.stack.harness import PipelineStack, StackSettings

pytestmark = [pytest.mark.functional, pytest.mark.slow]

SECRETS = {"bot_token": "xoxb-least-privilege", "signing_secret": "least-privilege-signing-secret"}
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:least-privilege"
MODELS = ("ships", "churn.v2_eu")  # Terraform's `models`; each gets <prefix>-<model, . and _ as ->
FUNCTIONS = {"ships": "mlops-ships", "churn.v2_eu": "mlops-churn-v2-eu"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineStack]:
    root = tmp_path_factory.mktemp("least-privilege")
    with Emulator(root / "state") as emu:
        stack = PipelineStack(
            emu, "http://127.0.0.1:9/no-mlflow", "http://127.0.0.1:9/api/", root, StackSettings(models=MODELS)
        )
        yield stack.provision(SECRETS)


def _variables(stack: PipelineStack, function: str) -> dict[str, str]:
    config = stack.emu.client("lambda").get_function_configuration(FunctionName=stack.function_name(function))
    return dict(config["Environment"]["Variables"])


def _secret(stack: PipelineStack, arn: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        stack.emu.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    )
    return value


def test_the_signing_secret_is_a_secret_of_its_own_known_to_slack_interactions_only(
    stack: PipelineStack,
) -> None:
    assert _secret(stack, stack.secret_arn) == {"bot_token": SECRETS["bot_token"]}
    assert _secret(stack, stack.signing_secret_arn) == {"signing_secret": SECRETS["signing_secret"]}
    told = {f.name for f in functions.FUNCTIONS if "SLACK_SIGNING_SECRET_ARN" in _variables(stack, f.name)}
    assert told == {"slack_interactions"}
    assert all(
        stack.signing_secret_arn not in _variables(stack, f.name).values()
        for f in functions.FUNCTIONS
        if f.name != "slack_interactions"
    )


def test_each_environment_function_knows_its_own_target_only(stack: PipelineStack) -> None:
    for f in functions.FUNCTIONS:
        variables = _variables(stack, f.name)
        if f.environment is None:
            assert "DEPLOY_TARGETS" not in variables, f.name
            continue
        targets = json.loads(variables["DEPLOY_TARGETS"])
        assert list(targets) == [f.environment], f.name
        roles = stack.invoke_roles if f.handler == "smoke_test" else stack.deploy_roles
        target = targets[f.environment]
        assert target["role_arn"] == roles[f.environment], f.name
        assert "function_name" not in target, f.name  # the one-function shape is gone
        named = {model: spec["function_name"] for model, spec in target["functions"].items()}
        assert {m: named[m] for m in MODELS} == FUNCTIONS, f.name


def _trusted(stack: PipelineStack, environment: str, role: str) -> set[str]:
    document = stack.emu.client("iam", environment).get_role(RoleName=role)["Role"][
        "AssumeRolePolicyDocument"
    ]
    return {p for s in document["Statement"] for p in s["Principal"]["AWS"]}


def test_each_target_account_trusts_its_own_environment_only(stack: PipelineStack) -> None:
    for environment in functions.ENVIRONMENTS:
        own = {name: stack.function_roles[f"{name}_{environment}"] for name in functions.PER_ENVIRONMENT}
        assert _trusted(stack, environment, "mlops-deploy") == {own["deploy"], own["rollback"]}
        assert _trusted(stack, environment, "mlops-smoke-test") == {own["smoke_test"]}
    assert len(set(stack.function_roles.values())) == len(functions.FUNCTIONS)  # one role each


def test_each_declared_model_has_its_own_function_and_live_in_both_accounts(stack: PipelineStack) -> None:
    for environment in functions.ENVIRONMENTS:
        lam = stack.emu.client("lambda", environment)
        for model, name in FUNCTIONS.items():
            assert stack.inference_function_for(model) == name
            assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
            role = lam.get_function_configuration(FunctionName=name)["Role"]
            assert role.endswith(f":role/{name}-execution"), role  # an execution role of its own
    with pytest.raises(HarnessError, match="not declared"):
        stack.inference_function_for("undeclared")


def test_declaring_a_model_gives_it_functions_and_names_it_wherever_models_are_named(
    stack: PipelineStack,
) -> None:
    """declare_model is ``terraform apply`` with one more model: functions, targets, DECLARED_MODELS."""
    assert stack.declare_model("late.model") == "mlops-late-model"
    assert stack.declare_model("late.model") == "mlops-late-model"  # again: nothing changes
    assert _variables(stack, "evaluate")["DECLARED_MODELS"] == "churn.v2_eu,late.model,ships"
    projects = stack.emu.client("codebuild").batch_get_projects(names=[stack.train_project, stack.project])
    for project in projects["projects"]:
        variables = project["environment"]["environmentVariables"]
        declared = [v["value"] for v in variables if v["name"] == "DECLARED_MODELS"]
        assert declared == ["churn.v2_eu,late.model,ships"], project["name"]
    for f in functions.FUNCTIONS:
        variables = _variables(stack, f.name)
        if f.environment is not None:
            functions_ = json.loads(variables["DEPLOY_TARGETS"])[f.environment]["functions"]
            assert functions_["late.model"] == {
                "function_name": "mlops-late-model",
                "smoke_max_latency_ms": None,
            }
            assert set(functions_) == {*MODELS, "late.model"}, f.name
    for environment in functions.ENVIRONMENTS:
        assert stack.alias_version(environment, "late.model") == "1"
        iam = stack.emu.client("iam", environment)
        account = stack.emu.account_id(environment)
        arns = [
            f"arn:aws:lambda:us-east-1:{account}:function:{n}"
            for n in (*FUNCTIONS.values(), "mlops-late-model")
        ]
        deploy = iam.get_role_policy(RoleName="mlops-deploy", PolicyName="deploy-inference")["PolicyDocument"]
        [statement] = [s for s in deploy["Statement"] if s["Sid"] == "DeployInferenceFunction"]
        assert sorted(statement["Resource"]) == sorted([*arns, *(f"{a}:*" for a in arns)])
        assert all("*" not in action for action in statement["Action"])
        invoke = iam.get_role_policy(RoleName="mlops-smoke-test", PolicyName="invoke-alias")["PolicyDocument"]
        assert sorted(invoke["Statement"][0]["Resource"]) == sorted(f"{a}:live" for a in arns)
    with pytest.raises(HarnessError, match="share the function"):
        stack.declare_model("late_model")  # the same function name as late.model


def test_a_deployed_stage_function_refuses_prod(stack: PipelineStack) -> None:
    prod_before = stack.alias_version("prod", "ships")
    event = {
        "execution": EXECUTION,
        "environment": "prod",
        "model": {"model_name": "ships", "model_version": "1"},
        "deploy": {"previous_version": "1", "new_version": "2"},
    }
    response = stack.emu.client("lambda").invoke(
        FunctionName=stack.function_name("rollback_stage"), Payload=json.dumps(event).encode()
    )
    error = json.loads(response["Payload"].read())
    assert response.get("FunctionError"), error
    assert error["errorType"] == "ConfigError"
    assert "no deploy target 'prod' (configured: stage)" in error["errorMessage"]
    assert stack.alias_version("prod", "ships") == prod_before


def test_a_deployed_rollback_function_refuses_an_undeclared_model(stack: PipelineStack) -> None:
    before = stack.alias_version("stage", "ships")
    event = {
        "execution": EXECUTION,
        "environment": "stage",
        "model": {"model_name": "not-declared", "model_version": "1"},
        "deploy": {"previous_version": "1", "new_version": "2"},
    }
    response = stack.emu.client("lambda").invoke(
        FunctionName=stack.function_name("rollback_stage"), Payload=json.dumps(event).encode()
    )
    error = json.loads(response["Payload"].read())
    assert response.get("FunctionError"), error
    assert error["errorType"] == "ConfigError"
    assert "'not-declared' is not declared" in error["errorMessage"]
    assert "Terraform variable `models`" in error["errorMessage"]
    assert stack.alias_version("stage", "ships") == before
