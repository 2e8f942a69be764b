"""The composition root of the handlers: one adapter per port, built once per Lambda container.

``Deps`` takes one typed keyword argument per port; tests pass fakes, production passes
nothing. Each port below is a ``cached_property`` whose body is the production default:
it runs (and imports its adapter module) only on first use, and only if no adapter was
given, so a Lambda imports only what its handler uses and cold starts stay short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property

from aws_lambda_powertools import Logger

from mlops_pipeline import config
from mlops_pipeline.domain.approvals import ApprovalService
from mlops_pipeline.domain.deployment import DeploymentService
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.gate_limits import GateLimits
from mlops_pipeline.domain.identity import IdentityResolver, parse_identity_map
from mlops_pipeline.domain.models import Approval
from mlops_pipeline.domain.policy import ApprovalPolicy, check_required_approvals
from mlops_pipeline.domain.prod_rollback import ProdRollbackService
from mlops_pipeline.domain.reporting import Reporter
from mlops_pipeline.model_build.policy import PipelinePolicy
from mlops_pipeline.ports import (
    ApprovalStore,
    BuildLogReader,
    ChatNotifier,
    Clock,
    DeliveryStore,
    DeployedStateStore,
    FunctionDeployer,
    LockStore,
    ModelRegistry,
    PipelineStarter,
    RollbackStarter,
    RollbackStore,
    RunStore,
    SystemClock,
    TaskCallbacks,
)

logger = Logger(service=config.get("POWERTOOLS_SERVICE_NAME"))

# (environment, execution, model) -> the deployer of that model's function in that environment.
DeployerFactory = Callable[[str, str, str], FunctionDeployer]
"""``(environment, execution) -> FunctionDeployer`` for that environment's function."""


class Deps:
    """Everything a handler may use: ports, the services built on them, settings."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        approvals_store: ApprovalStore | None = None,
        runs: RunStore | None = None,
        locks: LockStore | None = None,
        deployed: DeployedStateStore | None = None,
        notifier: ChatNotifier | None = None,
        registry: ModelRegistry | None = None,
        callbacks: TaskCallbacks | None = None,
        deployer_factory: DeployerFactory | None = None,
        build_logs: BuildLogReader | None = None,
        slack_bot_token: str | None = None,
        slack_signing_secret: str | None = None,
        deliveries: DeliveryStore | None = None,
        starter: PipelineStarter | None = None,
        git_webhook_secret: str | None = None,
    ) -> None:
        self.env = env
        given = {
            "clock": clock,
            "approvals_store": approvals_store,
            "runs": runs,
            "locks": locks,
            "deployed": deployed,
            "notifier": notifier,
            "registry": registry,
            "callbacks": callbacks,
            "deployer_factory": deployer_factory,
            "build_logs": build_logs,
            "slack_bot_token": slack_bot_token,
            "slack_signing_secret": slack_signing_secret,
            "deliveries": deliveries,
            "starter": starter,
            "git_webhook_secret": git_webhook_secret,
        }
        # An instance attribute takes precedence over a cached_property of the same name,
        # so a given adapter replaces the production default and that default never runs.
        vars(self).update({name: value for name, value in given.items() if value is not None})

    def setting(self, name: str) -> str:
        return config.get(name, self.env)

    # -- ports (production defaults) ------------------------------------------------------
    @cached_property
    def clock(self) -> Clock:
        return SystemClock()

    @cached_property
    def approvals_store(self) -> ApprovalStore:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoApprovalStore

        return DynamoApprovalStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def runs(self) -> RunStore:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoRunStore

        return DynamoRunStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def locks(self) -> LockStore:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoLockStore

        return DynamoLockStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def deployed(self) -> DeployedStateStore:
        from mlops_pipeline.adapters.aws.dynamodb import DynamoDeployedStateStore

        return DynamoDeployedStateStore(self.setting("MLOPS_TABLE"))

    # Two secrets: every function that posts reads the bot token; only slack_interactions is
    # given (and may read) the signing secret, which would let anyone holding it forge a click.
    @cached_property
    def slack_bot_token(self) -> str:
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        return get_json_secret(self.setting("SLACK_SECRET_ARN"), require=("bot_token",))["bot_token"]

    @cached_property
    def slack_signing_secret(self) -> str:
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        secret = get_json_secret(self.setting("SLACK_SIGNING_SECRET_ARN"), require=("signing_secret",))
        return secret["signing_secret"]

    # The git host's webhook secret: its own secret, readable by git_webhook only.
    @cached_property
    def git_webhook_secret(self) -> str:
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        return get_json_secret(self.setting("GIT_WEBHOOK_SECRET_ARN"), require=("secret",))["secret"]

    @cached_property
    def deliveries(self) -> DeliveryStore:
        from mlops_pipeline.adapters.aws.dynamodb.deliveries import DynamoDeliveryStore

        return DynamoDeliveryStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def starter(self) -> PipelineStarter:
        from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsStarter

        return StepFunctionsStarter(self.setting("STATE_MACHINE_ARN"))

    @cached_property
    def notifier(self) -> ChatNotifier:
        from mlops_pipeline.adapters.slack.client import SlackNotifier

        return SlackNotifier(self.slack_bot_token, base_url=self.setting("SLACK_API_URL"))

    @cached_property
    def registry(self) -> ModelRegistry:
        from mlops_pipeline.adapters import mlflow_registry
        from mlops_pipeline.adapters.aws.secrets import get_json_secret

        return mlflow_registry.from_environment(
            secret_reader=lambda arn: get_json_secret(arn, require=("username", "password")),
            environ=self.env,
        )

    @cached_property
    def callbacks(self) -> TaskCallbacks:
        from mlops_pipeline.adapters.aws.stepfunctions import StepFunctionsCallbacks

        return StepFunctionsCallbacks()

    @cached_property
    def deployer_factory(self) -> DeployerFactory:
        from mlops_pipeline.adapters.aws.lambda_deployer import LambdaDeployer

        def deployer(environment: str, execution: str, model: str) -> FunctionDeployer:
            target = config.deploy_targets(self.env)[environment]
            function = target.function_for(model)
            # The session name shows in the target account's CloudTrail: name the execution.
            session_name = f"mlops-{environment}-{execution.rsplit(':', 1)[-1]}"
            return LambdaDeployer.for_target(target, function, session_name=session_name)

        return deployer

    @cached_property
    def build_logs(self) -> BuildLogReader:
        from mlops_pipeline.adapters.aws.build_logs import CloudWatchBuildLogs

        return CloudWatchBuildLogs()

    def require_environment(self, environment: str) -> str:
        """``environment`` if this function's DEPLOY_TARGETS names it, else ConfigError.

        Each deploy, smoke test and rollback function is configured for its own environment
        only: a stage function refuses prod whatever its input says, before it touches anything.
        """
        return config.deploy_targets(self.env)[environment].environment

    def deployer(self, environment: str, execution: str, model: str) -> FunctionDeployer:
        """The deployer of ``model``'s function in ``environment``.

        ConfigError for an environment not in this function's DEPLOY_TARGETS or a model it does
        not declare: nothing is touched for either.
        """
        self.model_function(environment, model)
        return self.deployer_factory(environment, execution, model)

    def model_function(self, environment: str, model: str) -> config.ModelFunction:
        """``model``'s function in ``environment`` (ConfigError if either is not configured)."""
        return config.deploy_targets(self.env)[self.require_environment(environment)].function_for(model)

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
            # Read the identity settings only when an author is resolved (request_approval).
            resolve_author=lambda author: self.identity_resolver().resolve(author),
        )

    def identity_resolver(self) -> IdentityResolver:
        return IdentityResolver(
            parse_identity_map(self.setting("IDENTITY_MAP")),
            lookup=self.setting("IDENTITY_LOOKUP"),
            lookup_user_by_email=self.notifier.lookup_user_by_email,
        )

    def required_approvals(self) -> int:
        value = config.get_int("REQUIRED_APPROVALS", self.env)
        try:
            return check_required_approvals(value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @cached_property
    def deployment(self) -> DeploymentService:
        return DeploymentService(
            self.locks,
            self.deployed,
            self.clock,
            lock_ttl_seconds=config.get_int("LOCK_TTL_SECONDS", self.env),
        )

    # -- prod rollback by hand (issue 9 part 3) -----------------------------------------------
    # Tests assign fakes to these attributes (an instance attribute replaces a cached_property).
    @cached_property
    def rollbacks(self) -> RollbackStore:
        from mlops_pipeline.adapters.aws.dynamodb.rollbacks import DynamoRollbackStore

        return DynamoRollbackStore(self.setting("MLOPS_TABLE"))

    @cached_property
    def rollback_starter(self) -> RollbackStarter:
        from mlops_pipeline.adapters.aws.lambda_starter import AsyncLambdaStarter

        function = self.setting("PROD_ROLLBACK_FUNCTION")
        if not function:
            raise ConfigError("PROD_ROLLBACK_FUNCTION is not set: rollback from Slack is not configured")
        return AsyncLambdaStarter(function)

    @cached_property
    def prod_rollback(self) -> ProdRollbackService:
        return ProdRollbackService(
            self.rollbacks,
            self.deployed,
            self.locks,
            self.clock,
            lock_ttl_seconds=config.get_int("LOCK_TTL_SECONDS", self.env),
        )

    def approval_policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            allowed_users=frozenset(config.get_list("APPROVERS", self.env)),
            allowed_group=self.setting("APPROVER_GROUP") or None,
            allow_self_approval=config.get_bool("ALLOW_SELF_APPROVAL", self.env),
            required_approvals=self.required_approvals(),
        )

    def gate_limits(self) -> GateLimits:
        """The pipeline's gate policy (the same settings the build enforces on mlops.toml)."""
        return PipelinePolicy.from_env(self.env).gate


_deps: Deps | None = None


def runtime() -> Deps:
    """The container-wide Deps (built on first use, reused while the container is warm)."""
    global _deps
    if _deps is None:
        _deps = Deps()
    return _deps
