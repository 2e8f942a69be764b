"""Provision the pipeline on the emulator with boto3, fast: the test harness of the ASL tier.

Terraform provisions the same resources for the demo and on AWS; this harness creates just
what the state machine needs, in seconds, so the state-machine tests can run every path on
the real ASL, the real handlers (as deployed zip code) and a real MLflow server.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_pipeline import functions, statemachine
from mlops_pipeline.local.emulator.emulator import ACCOUNTS, ADMIN_USER, Emulator
from mlops_pipeline.local.stack.errors import HarnessError
from mlops_pipeline.local.stack.harness_code import BUILDSPEC, TRAIN_BUILDSPEC, source_zip
from mlops_pipeline.local.stack.harness_targets import (
    LAMBDA_TRUST,
    TargetAccounts,
    check_environment_size,
    ensure_role,
    service_trust,
    set_project_variable,
)
from mlops_pipeline.local.stack.status_events import route_status_changes

ASL_HANDLERS = statemachine.ASL_FUNCTIONS


# Who pushes to the local git remote (the emulator's admin user, as STS names it) and the local
# Slack stand-in's data scientist that IDENTITY_MAP resolves that principal to.
LOCAL_PUSHER = f"arn:aws:iam::{ACCOUNTS['tooling']}:user/{ADMIN_USER}"
LOCAL_AUTHOR = "U0AUTHOR"


def event_time(at: datetime | None = None) -> str:
    """An EventBridge event ``time`` (``2026-11-26T12:00:00Z``): what ``pushed_at`` carries."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The push rule's input, as terraform/modules/pipeline/events.tf builds it: who pushed (the
# event's callerUserArn) and when (the event's time) are what the pipeline trusts.
PUSH_INPUT_TRANSFORMER = {
    "InputPathsMap": {
        "commit": "$.detail.commitId",
        "repository": "$.detail.repositoryName",
        "branch": "$.detail.referenceName",
        "author": "$.detail.callerUserArn",
        "pushed_at": "$.time",
    },
    "InputTemplate": (
        '{"commit": <commit>, "repository": <repository>, "branch": <branch>, '
        '"author": <author>, "pushed_at": <pushed_at>}'
    ),
}


@dataclass
class StackSettings:
    prefix: str = "mlops"
    channel: str = "C0PIPELINE"
    approvers: tuple[str, ...] = ("U0APPROVER",)
    approval_timeout_seconds: int = 300
    smoke_max_latency_ms: int = 20000
    # Prod moves at once unless a test drives traffic through a gradual rollout (extra_env
    # ROLLOUT_*): without requests a bake cannot pass. The emulator writes metrics at once.
    rollout_mode: str = "all_at_once"
    gate_metric: str = "rmse"
    gate_direction: str = "lower"
    gate_tolerance: float = 0.0
    gate_max_tolerance: float = 0.0
    lambda_timeout: int = 120
    identity_map: dict[str, str] = field(default_factory=lambda: {LOCAL_PUSHER: LOCAL_AUTHOR})
    extra_env: dict[str, str] = field(default_factory=dict)
    buildspec: str | None = None  # the CodeBuild project's inline buildspec; None: BUILDSPEC
    train_buildspec: str | None = None  # the training project's; None: TRAIN_BUILDSPEC
    # Terraform's `models`: one inference function each in stage and prod (more: declare_model).
    models: tuple[str, ...] = ()


class PipelineStack:
    """The pipeline's resources in the three emulated accounts."""

    def __init__(
        self,
        emulator: Emulator,
        mlflow_url: str,
        slack_api_url: str,
        source_repo: Path,
        settings: StackSettings | None = None,
    ) -> None:
        self.emu = emulator
        self.mlflow_url = mlflow_url
        self.slack_api_url = slack_api_url
        self.source_repo = Path(source_repo)
        self.settings = settings or StackSettings()
        p = self.settings.prefix
        self.table = f"{p}-pipeline"
        self.project = f"{p}-build"
        self.train_project = f"{p}-train"
        self.state_machine_name = f"{p}-pipeline"
        self.ecr_repository = f"{ACCOUNTS['tooling']}.dkr.ecr.{emulator.region}.amazonaws.com/{p}/serving"
        self.artifacts_bucket = f"{p}-artifacts-local"
        self.function_arns: dict[str, str] = {}
        self.state_machine_arn = ""
        self.state_machine_arns: list[str] = []  # every one created, watched by the status rule
        self.status_topic_arn = ""
        self.secret_arn = ""  # the bot token
        self.signing_secret_arn = ""  # read by slack_interactions only
        self.function_roles: dict[str, str] = {}
        self.targets = TargetAccounts(emulator, p, self.artifacts_bucket)
        for model in self.settings.models:
            self.targets.declare(model)

    def function_name(self, module: str) -> str:
        return f"{self.settings.prefix}-{module.replace('_', '-')}"

    # -- declared models (Terraform's `models`) ---------------------------------------------------
    @property
    def models(self) -> tuple[str, ...]:
        """The declared models, in the order declared."""
        return tuple(self.targets.models)

    @property
    def deploy_roles(self) -> dict[str, str]:
        return self.targets.deploy_roles

    @property
    def invoke_roles(self) -> dict[str, str]:
        return self.targets.invoke_roles

    def inference_function_for(self, model: str) -> str:
        """The inference function of ``model`` (the same name in stage and prod); HarnessError if
        the model is not declared."""
        return self.targets.function_name(model)

    def declare_model(
        self, name: str, function_name: str | None = None, smoke_max_latency_ms: float | None = None
    ) -> str:
        """Declare ``name`` as ``terraform apply`` with it added to ``models`` would; its function.

        Creates the model's function and alias ``live`` in stage and prod (placeholder code) and
        rewrites DEPLOY_TARGETS of the deploy, smoke test and rollback functions and
        DECLARED_MODELS of Evaluate and both CodeBuild projects. Declaring it again changes nothing.
        """
        known = name in self.targets.models
        model = self.targets.declare(name, function_name, smoke_max_latency_ms)
        if not known and self.function_arns:  # provisioned: the settings follow
            self._apply_models()
        return model.function_name

    # -- provisioning ------------------------------------------------------------------------
    def provision(self, slack_secret: Mapping[str, str]) -> PipelineStack:
        """``slack_secret``: ``bot_token`` and ``signing_secret``, stored as two secrets (as on AWS)."""
        self._tooling_storage(slack_secret)
        for f in functions.FUNCTIONS:  # one role per function, as Terraform's
            name = f"{self.function_name(f.name)}-lambda"
            self.function_roles[f.name] = self._role("tooling", name, LAMBDA_TRUST)
        for environment in functions.ENVIRONMENTS:
            roles = self.function_roles
            self.targets.create_roles(
                environment,
                [roles[f"deploy_{environment}"], roles[f"rollback_{environment}"]],
                [roles[f"smoke_test_{environment}"]],
            )
        self._pipeline_functions()
        self._codebuild()
        self._state_machine(self.settings.approval_timeout_seconds, self.state_machine_name)
        return self

    def _role(self, account: str, name: str, trust: Mapping[str, Any]) -> str:
        return ensure_role(self.emu, account, name, trust)

    def _tooling_storage(self, slack_secret: Mapping[str, str]) -> None:
        from mlops_pipeline.adapters.aws.dynamodb import create_table

        create_table(self.emu.client("dynamodb"), self.table)
        # The build's zips, read by the target accounts' deploy roles (one object version each).
        s3 = self.emu.client("s3")
        s3.create_bucket(Bucket=self.artifacts_bucket)
        s3.put_bucket_versioning(Bucket=self.artifacts_bucket, VersioningConfiguration={"Status": "Enabled"})
        secrets = self.emu.client("secretsmanager")

        def secret(name: str, key: str) -> str:
            value = json.dumps({key: slack_secret[key]})
            return str(
                secrets.create_secret(Name=f"{self.settings.prefix}/{name}", SecretString=value)["ARN"]
            )

        self.secret_arn = secret("slack", "bot_token")
        self.signing_secret_arn = secret("slack-signing-secret", "signing_secret")

    def gate_environment(self) -> dict[str, str]:
        """The gate policy, for Evaluate and the build as Terraform gives it (the serving
        max_rows bounds keep their defaults)."""
        s = self.settings
        return {
            "GATE_METRIC": s.gate_metric,
            "GATE_DIRECTION": s.gate_direction,
            "GATE_TOLERANCE": str(s.gate_tolerance),
            "GATE_MAX_TOLERANCE": str(s.gate_max_tolerance),
        }

    def declared_models(self) -> str:
        """DECLARED_MODELS, as Terraform's ``join(",", sort(models))``."""
        return ",".join(sorted(self.models))

    def _apply_models(self) -> None:
        """The settings that name the models, rewritten after a declaration (``terraform apply``):
        only those keys change, so a test's own change to a function's settings stays."""
        client = self.emu.client("lambda")
        for f in functions.FUNCTIONS:
            wanted = self.lambda_environment(f.name)
            changed = {k: wanted[k] for k in ("DEPLOY_TARGETS", "DECLARED_MODELS") if k in wanted}
            if not changed:
                continue
            name = self.function_name(f.name)
            current = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
            variables = {**current, **changed}
            check_environment_size(name, variables)
            client.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        set_project_variable(
            self.emu, [self.train_project, self.project], "DECLARED_MODELS", self.declared_models()
        )

    def lambda_environment(self, function: str) -> dict[str, str]:
        """One function's settings, as Terraform's lambda.tf gives them: DEPLOY_TARGETS of its own
        environment only (the smoke test's with the invoke role) and the signing secret's ARN for
        slack_interactions only."""
        s = self.settings
        spec = functions.BY_NAME[function]
        own: dict[str, str] = {}
        if spec.environment is not None:
            roles = self.invoke_roles if spec.handler == "smoke_test" else self.deploy_roles
            target = self.targets.deploy_target(spec.environment, roles[spec.environment])
            own["DEPLOY_TARGETS"] = json.dumps(target)
        if function == "evaluate":  # the deploying side's check of the model name (Terraform's)
            own["DECLARED_MODELS"] = self.declared_models()
        if function == "slack_interactions":
            own["SLACK_SIGNING_SECRET_ARN"] = self.signing_secret_arn
            # A "Roll back prod" click starts it, as Terraform wires it.
            own["PROD_ROLLBACK_FUNCTION"] = self.function_name("rollback_prod")
        return {
            "MLOPS_TABLE": self.table,
            "SLACK_SECRET_ARN": self.secret_arn,
            "SLACK_CHANNEL": s.channel,
            "SLACK_API_URL": self.slack_api_url,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_UI_URL": self.mlflow_url,
            **self.gate_environment(),
            "SMOKE_MAX_LATENCY_MS": str(s.smoke_max_latency_ms),
            "ROLLOUT_MODE": s.rollout_mode,
            "ROLLOUT_METRICS_DELAY_SECONDS": "0",
            "APPROVERS": ",".join(s.approvers),
            "IDENTITY_MAP": json.dumps(s.identity_map),
            "APPROVAL_TIMEOUT_SECONDS": str(s.approval_timeout_seconds),
            "POWERTOOLS_SERVICE_NAME": "mlops-pipeline",
            **own,
            **s.extra_env,
        }

    def _pipeline_functions(self) -> None:
        client = self.emu.client("lambda")
        code = source_zip()
        for f in functions.FUNCTIONS:
            name, variables = self.function_name(f.name), self.lambda_environment(f.name)
            check_environment_size(name, variables)
            response = client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=self.function_roles[f.name],
                Handler=f"mlops_pipeline.handlers.{f.handler}.handler",
                Code={"ZipFile": code},
                Timeout=self.settings.lambda_timeout,
                MemorySize=512,
                Architectures=["arm64"],
                Environment={"Variables": variables},
            )
            self.function_arns[f.name] = str(response["FunctionArn"])

    def _codebuild_role(self, name: str) -> str:
        return self._role("tooling", name, service_trust("codebuild.amazonaws.com"))

    def _train_role(self) -> str:
        """Terraform's ``pipeline-train`` in spirit (write the training output, nothing else),
        tagged untrusted: the emulator holds the model author's code to this policy."""
        name, resource = (
            f"{self.settings.prefix}-codebuild-train",
            f"arn:aws:s3:::{self.artifacts_bucket}/train/*",
        )
        arn, iam = self._codebuild_role(name), self.emu.client("iam")
        iam.tag_role(RoleName=name, Tags=[{"Key": "mlops:untrusted", "Value": "true"}])
        statement = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": resource}
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        iam.put_role_policy(RoleName=name, PolicyName="least-privilege", PolicyDocument=policy)
        return arn

    def _project(self, name: str, buildspec: str, role: str, variables: Mapping[str, str]) -> None:
        self.emu.client("codebuild").create_project(
            name=name,
            source={"type": "CODECOMMIT", "location": str(self.source_repo), "buildspec": buildspec},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "ARM_CONTAINER",
                "image": "aws/codebuild/amazonlinux2-aarch64-standard:3.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [
                    {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()
                ],
            },
            serviceRole=role,
            timeoutInMinutes=30,
        )

    def _codebuild(self) -> None:
        """Two projects, as Terraform's: the untrusted training step (no MLflow address or
        credentials, no ECR) and the trusted registration step."""
        local = {"PYTHON": sys.executable, "MLOPS_LOCAL_STATE": str(self.emu.state_dir)}
        declared = {"DECLARED_MODELS": self.declared_models()}  # both refuse an undeclared model
        self._project(
            self.train_project,
            self.settings.train_buildspec or TRAIN_BUILDSPEC,
            self._train_role(),
            {**local, "ARTIFACTS_BUCKET": self.artifacts_bucket, **self.gate_environment(), **declared},
        )
        variables = {
            **local,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "ECR_REPOSITORY_URI": self.ecr_repository,
            "ARTIFACTS_BUCKET": self.artifacts_bucket,
            "ARCHITECTURE": "arm64",  # what AWS would build for; locally the zip holds host packages
            "SERVING_PACKAGE_TYPE": "Zip",
            **self.gate_environment(),
            **declared,
        }
        self._project(
            self.project,
            self.settings.buildspec or BUILDSPEC,
            self._codebuild_role(f"{self.settings.prefix}-codebuild"),
            variables,
        )

    def _state_machine(self, approval_timeout_seconds: int, name: str) -> str:
        role = self._role("tooling", f"{self.settings.prefix}-states", service_trust("states.amazonaws.com"))
        values = {f"{m}_function_arn": self.function_arns[m] for m in ASL_HANDLERS}
        values["codebuild_project"] = self.project
        values["train_project"] = self.train_project
        values["approval_timeout_seconds"] = str(approval_timeout_seconds)
        arn = str(
            self.emu.client("stepfunctions").create_state_machine(
                name=name, definition=statemachine.render(values), roleArn=role
            )["stateMachineArn"]
        )
        if name == self.state_machine_name:
            self.state_machine_arn = arn
        # Their status changes reach notify through EventBridge and SNS (Terraform's events.tf).
        self.state_machine_arns.append(arn)
        self.status_topic_arn = route_status_changes(
            self.emu, self.settings.prefix, self.state_machine_arns, self.function_arns["notify"]
        )
        return arn

    def add_state_machine(self, name: str, approval_timeout_seconds: int) -> str:
        """Another state machine from the same template (e.g. with a short approval timeout)."""
        return self._state_machine(approval_timeout_seconds, name)

    def add_push_trigger(self, repository_name: str, repository_arn: str, branch: str = "main") -> str:
        """The EventBridge rule that starts the state machine on a push (as Terraform's events.tf).

        Matches CodeCommit's ``referenceCreated``/``referenceUpdated`` of ``branch`` and maps the
        event to the normalised input ``{commit, repository, branch, author, pushed_at}`` (author:
        ``detail.callerUserArn``, pushed_at: the event's ``time``); returns the rule ARN.
        """
        role = self._role("tooling", f"{self.settings.prefix}-events", service_trust("events.amazonaws.com"))
        events = self.emu.client("events")
        rule = f"{self.settings.prefix}-push-{repository_name}"
        arn = str(
            events.put_rule(
                Name=rule,
                EventPattern=json.dumps(
                    {
                        "source": ["aws.codecommit"],
                        "detail-type": ["CodeCommit Repository State Change"],
                        "resources": [repository_arn],
                        "detail": {
                            "event": ["referenceCreated", "referenceUpdated"],
                            "referenceType": ["branch"],
                            "referenceName": [branch],
                        },
                    }
                ),
            )["RuleArn"]
        )
        events.put_targets(
            Rule=rule,
            Targets=[
                {
                    "Id": "pipeline",
                    "Arn": self.state_machine_arn,
                    "RoleArn": role,
                    "InputTransformer": PUSH_INPUT_TRANSFORMER,
                }
            ],
        )
        return arn

    # -- running -----------------------------------------------------------------------------
    def start(
        self,
        commit: str,
        author: str = LOCAL_PUSHER,
        state_machine_arn: str | None = None,
        pushed_at: datetime | None = None,
    ) -> str:
        """Start an execution with the input the push rule would give it (pushed now by default)."""
        trigger = {
            "commit": commit,
            "repository": self.source_repo.name,
            "branch": "main",
            "author": author,
            "pushed_at": event_time(pushed_at),
        }
        response = self.emu.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn or self.state_machine_arn,
            name=f"{commit[:12]}-{uuid.uuid4().hex[:8]}",
            input=json.dumps(trigger),
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """Block until the execution leaves RUNNING; HarnessError with its history on timeout."""
        sfn = self.emu.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.5)
        raise HarnessError(
            f"{execution_arn} still RUNNING after {timeout:.0f}s; states: {self.states(execution_arn)}"
        )

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.emu.client("stepfunctions")
        return list(sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])

    def states(self, execution_arn: str) -> list[str]:
        """The names of the states the execution entered, in order."""
        return [name for name, _ in self._entered(self._history(execution_arn))]

    @staticmethod
    def _entered(events: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
        return [
            (e["stateEnteredEventDetails"]["name"], e["timestamp"])
            for e in events
            if "stateEnteredEventDetails" in e
        ]

    def timings(self, execution_arn: str) -> list[tuple[str, float]]:
        """Seconds spent in each state entered, in order (from the execution history)."""
        events = self._history(execution_arn)
        entered = self._entered(events)
        ends = [at for _, at in entered[1:]] + [events[-1]["timestamp"]] if events else []
        return [(name, (end - at).total_seconds()) for (name, at), end in zip(entered, ends, strict=True)]

    def alias_version(self, environment: str, model: str) -> str:
        """The version behind ``live`` of ``model``'s function in ``environment``."""
        return self.targets.alias_version(environment, model)
