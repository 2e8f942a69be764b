"""The harness' target accounts (stage, prod), as terraform/modules/target_account makes them.

Per environment: the deploy role (trusted by that environment's deploy and rollback roles), the
invoke role (trusted by its smoke test) and, per declared model (Terraform's ``models``), an
inference function with its own execution role, running the placeholder behind alias ``live``
until the first deploy. The roles' policies name each model's function, as Terraform's do (the
emulator enforces IAM only for roles tagged ``mlops:untrusted``: these document the wiring).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.errors import HarnessError

ALIAS = "live"
# Terraform's validation of `models` keys and of a function_name (target_account/variables.tf).
MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,63}")
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Lambda refuses a function whose environment variables (keys and values) exceed 4 KB in all.
LAMBDA_ENVIRONMENT_LIMIT = 4096


def service_trust(service: str) -> dict[str, Any]:
    """A role trust policy for one AWS service principal."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


LAMBDA_TRUST = service_trust("lambda.amazonaws.com")


def ensure_role(emu: Emulator, account: str, name: str, trust: Mapping[str, Any]) -> str:
    """The ARN of role ``name`` in ``account``, created with ``trust`` unless it exists."""
    iam = emu.client("iam", account)
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def check_environment_size(function: str, variables: Mapping[str, str]) -> None:
    """HarnessError where Lambda would refuse the function's environment (over 4 KB)."""
    size = sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())
    if size > LAMBDA_ENVIRONMENT_LIMIT:
        raise HarnessError(
            f"the environment of {function} is {size} bytes: Lambda refuses more than "
            f"{LAMBDA_ENVIRONMENT_LIMIT} (too many declared models for DEPLOY_TARGETS?)"
        )


def set_project_variable(emu: Emulator, projects: Iterable[str], name: str, value: str) -> None:
    """Set one plaintext environment variable of CodeBuild ``projects`` (tooling), keeping the rest."""
    codebuild = emu.client("codebuild")
    for project in codebuild.batch_get_projects(names=list(projects))["projects"]:
        environment = dict(project["environment"])
        variables = [v for v in environment["environmentVariables"] if v["name"] != name]
        environment["environmentVariables"] = [
            *variables,
            {"name": name, "value": value, "type": "PLAINTEXT"},
        ]
        codebuild.update_project(name=project["name"], environment=environment)


@functools.cache
def placeholder_zip() -> bytes:
    """``mlops-pipeline package``'s placeholder.zip: the inference functions' code before any model
    (built once per process: every declared model's functions start from it)."""
    from mlops_pipeline import packaging

    with tempfile.TemporaryDirectory(prefix="mlops-placeholder-") as tmp:
        packaging.build_placeholder_zip(Path(tmp))
        return (Path(tmp) / packaging.PLACEHOLDER_ZIP).read_bytes()


def model_function_name(prefix: str, model: str) -> str:
    """Terraform's default function name of ``model``: ``<prefix>-<model, "." and "_" as "-">``."""
    if not MODEL_NAME.fullmatch(model):
        raise HarnessError(f"model name {model!r} is not 1-63 letters, digits, '.', '_' or '-'")
    return f"{prefix}-{model.replace('.', '-').replace('_', '-')}"


def execution_role_name(function_name: str) -> str:
    """Terraform's execution role name: IAM stops at 64 characters, so a long one is cut and hashed."""
    if len(function_name) <= 54:
        return f"{function_name}-execution"
    digest = hashlib.sha1(function_name.encode()).hexdigest()[:8]  # noqa: S324 - a name, not security
    return f"{function_name[:45]}-{digest}-execution"


@dataclass(frozen=True)
class DeclaredModel:
    """One entry of Terraform's ``models``: the model's function name and its smoke latency bound."""

    name: str
    function_name: str
    smoke_max_latency_ms: float | None = None

    def target(self) -> dict[str, Any]:
        """Its entry in DEPLOY_TARGETS' ``functions``."""
        return {"function_name": self.function_name, "smoke_max_latency_ms": self.smoke_max_latency_ms}


class TargetAccounts:
    """The deploy and invoke roles of each environment and the declared models' functions."""

    def __init__(self, emu: Emulator, prefix: str, artifacts_bucket: str) -> None:
        self.emu = emu
        self.prefix = prefix
        self.artifacts_bucket = artifacts_bucket
        self.deploy_roles: dict[str, str] = {}
        self.invoke_roles: dict[str, str] = {}
        self.models: dict[str, DeclaredModel] = {}  # in the order declared

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(self.deploy_roles)

    def create_roles(self, environment: str, deployers: Iterable[str], smoke_testers: Iterable[str]) -> None:
        """The environment's deploy role (trusting ``deployers``) and invoke role (``smoke_testers``)."""

        def trust(principals: Iterable[str]) -> dict[str, Any]:
            statement = {
                "Effect": "Allow",
                "Principal": {"AWS": list(principals)},
                "Action": "sts:AssumeRole",
            }
            return {"Version": "2012-10-17", "Statement": [statement]}

        self.deploy_roles[environment] = ensure_role(
            self.emu, environment, f"{self.prefix}-deploy", trust(deployers)
        )
        self.invoke_roles[environment] = ensure_role(
            self.emu, environment, f"{self.prefix}-smoke-test", trust(smoke_testers)
        )
        for model in self.models.values():  # declared before this environment existed
            self._create_function(environment, model)
        self._write_policies(environment)

    def declare(
        self, name: str, function_name: str | None = None, smoke_max_latency_ms: float | None = None
    ) -> DeclaredModel:
        """Add ``name`` to the models: its function and alias ``live`` in every environment.

        Declaring a model again changes nothing (and must not ask for another function name).
        """
        if name in self.models:
            declared = self.models[name]
            if function_name not in (None, declared.function_name):
                raise HarnessError(f"model {name!r} is declared with function {declared.function_name}")
            return declared
        fn = function_name or model_function_name(self.prefix, name)
        if not FUNCTION_NAME.fullmatch(fn):
            raise HarnessError(
                f"function name {fn!r} of model {name!r} is not 1-64 letters, digits, '-' or '_': "
                "give the model a shorter function_name"
            )
        taken = {m.function_name: m.name for m in self.models.values()}
        if fn in taken:
            raise HarnessError(f"models {taken[fn]!r} and {name!r} would share the function {fn}")
        model = DeclaredModel(name, fn, smoke_max_latency_ms)
        self.models[name] = model
        for environment in self.environments:
            self._create_function(environment, model)
            self._write_policies(environment)
        return model

    def _create_function(self, environment: str, model: DeclaredModel) -> None:
        role = ensure_role(self.emu, environment, execution_role_name(model.function_name), LAMBDA_TRUST)
        client = self.emu.client("lambda", environment)
        # As Terraform creates it: a zip function running the placeholder until the first deploy.
        client.create_function(
            FunctionName=model.function_name,
            Role=role,
            Runtime="python3.12",
            Handler="serving.handler.handler",
            Code={"ZipFile": placeholder_zip()},
            Timeout=60,
            MemorySize=1024,
            Architectures=["arm64"],
            Environment={"Variables": {"ENVIRONMENT": environment}},
            Tags={"mlops:model": model.name},
        )
        version = client.publish_version(FunctionName=model.function_name)["Version"]
        client.create_alias(FunctionName=model.function_name, Name=ALIAS, FunctionVersion=version)

    def function_arn(self, environment: str, model: str) -> str:
        region, account = self.emu.region, self.emu.account_id(environment)
        return f"arn:aws:lambda:{region}:{account}:function:{self.models[model].function_name}"

    def policies(self, environment: str) -> dict[str, dict[str, Any]]:
        """The deploy and invoke roles' policies (Terraform's deploy-inference and invoke-alias):
        each names every declared model's function, no wildcard over function names."""
        arns = [self.function_arn(environment, m) for m in sorted(self.models)]
        deploy = [
            {
                "Sid": "DeployInferenceFunction",
                "Effect": "Allow",
                "Action": [
                    "lambda:GetAlias",
                    "lambda:UpdateAlias",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:PublishVersion",
                    "lambda:ListVersionsByFunction",
                ],
                "Resource": [r for arn in arns for r in (arn, f"{arn}:*")],
            },
            {
                "Sid": "ReadServingZips",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::{self.artifacts_bucket}/serving/*",
            },
        ]
        invoke = [
            {
                "Sid": "InvokeAlias",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [f"{arn}:{ALIAS}" for arn in arns],
            }
        ]
        return {
            "deploy-inference": {"Version": "2012-10-17", "Statement": deploy},
            "invoke-alias": {"Version": "2012-10-17", "Statement": invoke},
        }

    def _write_policies(self, environment: str) -> None:
        if not self.models:
            return  # Terraform declares at least one model; no policy names no function
        iam = self.emu.client("iam", environment)
        roles = {"deploy-inference": self.deploy_roles, "invoke-alias": self.invoke_roles}
        for name, document in self.policies(environment).items():
            role = roles[name][environment].rsplit("/", 1)[-1]
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))

    def deploy_target(self, environment: str, role_arn: str) -> dict[str, Any]:
        """DEPLOY_TARGETS of one function (``role_arn``: the deploy or the invoke role)."""
        functions = {name: model.target() for name, model in sorted(self.models.items())}
        target = {"role_arn": role_arn, "alias": ALIAS, "external_id": None, "functions": functions}
        return {environment: target}

    def function_name(self, model: str) -> str:
        """The function of a declared model; HarnessError naming ``models`` for any other."""
        try:
            return self.models[model].function_name
        except KeyError:
            known = ", ".join(self.models) or "none"
            raise HarnessError(
                f"model {model!r} is not declared (declared: {known}): declare it first "
                "(StackSettings.models or PipelineStack.declare_model, Terraform's `models`)"
            ) from None

    def alias_version(self, environment: str, model: str) -> str:
        """The version behind ``live`` of ``model``'s function in ``environment``."""
        alias = self.emu.client("lambda", environment).get_alias(
            FunctionName=self.function_name(model), Name=ALIAS
        )
        return str(alias["FunctionVersion"])
