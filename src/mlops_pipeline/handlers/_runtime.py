"""Wiring for the handlers: adapters built once per Lambda container from the environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger

from mlops_pipeline import config
from mlops_pipeline.domain.approvals import ApprovalService
from mlops_pipeline.domain.deployment import DeploymentService
from mlops_pipeline.domain.gate import GatePolicy
from mlops_pipeline.domain.models import Approval
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.ports import (
    ApprovalStore,
    ChatNotifier,
    Clock,
    DeployedStateStore,
    FunctionDeployer,
    LockStore,
    ModelRegistry,
    RunStore,
    SystemClock,
    TaskCallbacks,
)

logger = Logger(service=config.get("POWERTOOLS_SERVICE_NAME"))


def error_summary(error: Mapping[str, Any] | None) -> str:
    """A readable line from a Step Functions error object ``{"Error", "Cause"}``."""
    if not error:
        return ""
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause", "")
    message = cause
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            message = (
                parsed.get("errorMessage") or parsed.get("Message") or parsed.get("BuildStatus") or cause
            )
    text = f"{name}: {message}" if message else name
    return text[:600]


@dataclass
class Deps:
    """Everything a handler may use; tests build one from fakes."""

    env: Mapping[str, str] | None = None
    clock: Clock = field(default_factory=SystemClock)
    overrides: dict[str, Any] = field(default_factory=dict)

    def _get(self, name: str) -> Any:
        return self.overrides.get(name)

    def setting(self, name: str) -> str:
        return config.get(name, self.env)

    # -- storage --------------------------------------------------------------------------
    @cached_property
    def approvals_store(self) -> ApprovalStore:
        if (o := self._get("approvals_store")) is not None:
            return o
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        return DynamoApprovalStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def runs(self) -> RunStore:
        if (o := self._get("runs")) is not None:
            return o
        from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore

        return DynamoRunStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def locks(self) -> LockStore:
        if (o := self._get("locks")) is not None:
            return o
        from mlops_pipeline.adapters.aws.dynamodb import DynamoLockStore

        return DynamoLockStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def deployed(self) -> DeployedStateStore:
        if (o := self._get("deployed")) is not None:
            return o
        from mlops_pipeline.adapters.aws.dynamodb import DynamoDeployedStateStore

        return DynamoDeployedStateStore(self.setting("MLOPS_TABLE"))

    # -- outside services -----------------------------------------------------------------
    @cached_property
    def slack_secret(self) -> Mapping[str, str]:
        if (o := self._get("slack_secret")) is not None:
            return o
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        return get_json_secret(self.setting("SLACK_SECRET_ARN"), require=("bot_token", "signing_secret"))

    @cached_property
    def notifier(self) -> ChatNotifier:
        if (o := self._get("notifier")) is not None:
            return o
        from mlops_pipeline.adapters.slack.client import SlackNotifier

        return SlackNotifier(self.slack_secret["bot_token"], base_url=self.setting("SLACK_API_URL"))

    @cached_property
    def registry(self) -> ModelRegistry:
        if (o := self._get("registry")) is not None:
            return o
        import os

        from mlops_pipeline.adapters import mlflow_registry
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        # The MLflow client reads these from the process environment itself.
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            os.environ.setdefault(name, self.setting(name))
        return mlflow_registry.from_environment(
            secret_reader=lambda arn: get_json_secret(arn, require=("username", "password")),
            environ=self.env,
        )

    @cached_property
    def callbacks(self) -> TaskCallbacks:
        if (o := self._get("callbacks")) is not None:
            return o
        from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsCallbacks

        return StepFunctionsCallbacks()

    def deployer(self, environment: str, execution: str) -> FunctionDeployer:
        factory = self._get("deployer")
        if factory is not None:
            return factory(environment)
        from mlops_pipeline.adapters.aws.lambda_deployer import LambdaDeployer

        target = config.deploy_targets(self.env)[environment]
        # The session name shows in the target account's CloudTrail: name the execution.
        session_name = f"mlops-{environment}-{execution.rsplit(':', 1)[-1]}"
        return LambdaDeployer.for_target(target, session_name=session_name)

    # -- domain services ------------------------------------------------------------------
    @cached_property
    def reporter(self) -> Reporter:
        from mlops_pipeline.adapters.slack import views

        mlflow_ui = self.setting("MLFLOW_UI_URL") or None
        return Reporter(
            self.runs,
            self.notifier,
            self.clock,
            self.setting("SLACK_CHANNEL"),
            header_view=lambda run: views.run_header(run, mlflow_ui),
            progress_view=views.progress,
        )

    @cached_property
    def approvals(self) -> ApprovalService:
        from mlops_pipeline.adapters.slack import views

        mlflow_ui = self.setting("MLFLOW_UI_URL") or None

        def card(approval: Approval) -> views.View:
            details = approval.details
            return views.approval_card(
                approval, details.get("evaluation") or {}, details.get("smoke"), mlflow_ui
            )

        return ApprovalService(
            self.approvals_store,
            self.notifier,
            self.callbacks,
            self.clock,
            card_view=card,
            decided_view=views.decided_card,
        )

    @cached_property
    def deployment(self) -> DeploymentService:
        return DeploymentService(
            self.locks,
            self.deployed,
            self.clock,
            lock_ttl_seconds=config.get_int("LOCK_TTL_SECONDS", self.env),
        )

    def default_gate(self) -> GatePolicy:
        return GatePolicy.from_values(
            self.setting("GATE_METRIC"), self.setting("GATE_DIRECTION"), self.setting("GATE_TOLERANCE")
        )


_deps: Deps | None = None


def runtime() -> Deps:
    """The container-wide Deps (built on first use, reused while the container is warm)."""
    global _deps
    if _deps is None:
        _deps = Deps()
    return _deps


def environment_label(environment: str) -> str:
    return {"stage": "Stage", "prod": "Prod"}.get(environment, environment.title())
