"""Every setting of the pipeline Lambdas, read from environment variables in one place.

``docs/configuration.md`` is generated from ``SETTINGS`` (``mlops-pipeline config-doc``)
and a unit test keeps the two in step. Secrets are never environment variables: the
Lambdas get the *ARN* of a Secrets Manager secret and read it through Powertools
Parameters (cached).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_pipeline.domain import rollout
from mlops_pipeline.domain.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    description: str
    default: str | None = None  # None: required where used
    used_by: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("MLOPS_TABLE", "DynamoDB table for approvals, runs, locks and deployed state.", None, ("all",)),
    Setting(
        "MLFLOW_TRACKING_URI",
        "MLflow tracking server URL.",
        None,
        ("evaluate", "promote", "request_approval", "rollback_prod"),
    ),
    Setting(
        "MLFLOW_CREDENTIALS_SECRET_ARN",
        'Secrets Manager secret with the pipeline\'s MLflow user `{"username","password"}`; '
        "empty when MLflow authentication is off (local mode).",
        "",
        ("evaluate", "promote", "request_approval", "rollback_prod"),
    ),
    Setting(
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "Retries of the MLflow client (its own default, 7 with backoff, can outlive a Lambda timeout).",
        "3",
        ("evaluate", "promote"),
    ),
    Setting(
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "Seconds the MLflow client waits for one request.",
        "30",
        ("evaluate", "promote"),
    ),
    Setting(
        "SLACK_SECRET_ARN",
        'Secrets Manager secret `{"bot_token"}`: the Slack bot token.',
        None,
        ("all that post to Slack",),
    ),
    Setting(
        "SLACK_SIGNING_SECRET_ARN",
        'Secrets Manager secret `{"signing_secret"}`: the Slack signing secret, a secret of its own '
        "that no other function can read (it would let them forge a Slack request).",
        None,
        ("slack_interactions",),
    ),
    Setting(
        "SLACK_CHANNEL",
        "Slack channel id where runs are reported.",
        None,
        ("all",),
    ),
    Setting(
        "SLACK_API_URL",
        "Slack Web API base URL (the local Slack stand-in in local mode).",
        "https://slack.com/api/",
        ("all that post to Slack",),
    ),
    Setting(
        "GATE_METRIC",
        "The gate metric every model project must use (mlops.toml `gate.metric` may only repeat it); "
        "`*`: the project chooses its metric and direction (`rmse` if it names none).",
        "rmse",
        ("build", "evaluate"),
    ),
    Setting(
        "GATE_DIRECTION",
        "`lower` or `higher`: which way `GATE_METRIC` is better; a project may not flip it "
        "(with `GATE_METRIC` `*`, only the default of a project that sets none).",
        "lower",
        ("build", "evaluate"),
    ),
    Setting(
        "GATE_TOLERANCE",
        "Relative tolerance of a project whose mlops.toml sets none: how much worse than the champion "
        "a candidate may be (0.05 = 5 %); at most `GATE_MAX_TOLERANCE`.",
        "0.0",
        ("build", "evaluate"),
    ),
    Setting(
        "GATE_MAX_TOLERANCE",
        "Cap on mlops.toml `gate.tolerance`: a larger one is refused by the build and by Evaluate "
        "(a smaller one tightens the gate).",
        "0.0",
        ("build", "evaluate"),
    ),
    Setting(
        "SERVING_MAX_ROWS_CAP",
        "Cap on mlops.toml `serving.max_rows` (rows per inference request), and its value when the "
        "project sets none; a larger one is refused.",
        "10000",
        ("build",),
    ),
    Setting(
        "SERVING_MAX_ROWS_FLOOR",
        "Floor of mlops.toml `serving.max_rows`: a project may not accept fewer rows per request "
        "than this (what the model's callers may rely on).",
        "1",
        ("build",),
    ),
    Setting(
        "DECLARED_MODELS",
        "Comma-separated model names this deployment has inference functions for (Terraform "
        "`models`). `train`, `register` and Evaluate refuse any other mlops.toml `[model] name` "
        "before training or deploying anything; empty: no check (a developer's own build).",
        "",
        ("train", "build", "evaluate"),
    ),
    Setting(
        "DEPLOY_TARGETS",
        'JSON `{"<environment>": {"role_arn","alias","functions": {"<model>": {"function_name",'
        '"smoke_max_latency_ms"}}}}` with the function\'s own environment only: the role it assumes '
        "there (deploy and rollback: the deploy role; the smoke test: the invoke role) and the "
        "inference function of each declared model. A function refuses any other environment and "
        "any undeclared model.",
        None,
        (
            "deploy_stage",
            "deploy_prod",
            "smoke_test_stage",
            "smoke_test_prod",
            "rollback_stage",
            "rollback_prod",
        ),
    ),
    *(
        Setting(name, description, default, ("deploy_prod",))
        for name, (default, description) in rollout.SETTINGS.items()
    ),
    Setting(
        "ROLLOUT_METRICS_DELAY_SECONDS",
        "Seconds added to each bake before it is judged: Lambda's CloudWatch metrics arrive late "
        "(a minute or two on AWS; 0 on the local emulator, which writes them at once).",
        "90",
        ("deploy_prod",),
    ),
    Setting(
        "SMOKE_MAX_LATENCY_MS",
        "Smoke test fails above this latency (ms).",
        "3000",
        ("smoke_test_stage", "smoke_test_prod"),
    ),
    Setting(
        "LOCK_TTL_SECONDS",
        "Lease of a deployment lock; a crashed run frees it after this. Each step of a gradual "
        "rollout renews it (Terraform also raises deploy_prod's to cover a bake with its extensions).",
        "900",
        ("deploy_stage", "deploy_prod", "rollback_prod"),
    ),
    Setting(
        "APPROVERS",
        "Comma-separated Slack user ids allowed to approve.",
        "",
        ("slack_interactions", "rollback_prod"),
    ),
    Setting(
        "APPROVER_GROUP",
        "Slack user group id whose members may approve.",
        "",
        ("slack_interactions", "rollback_prod"),
    ),
    Setting(
        "ALLOW_SELF_APPROVAL",
        "`true` lets a commit author approve their own model.",
        "false",
        ("slack_interactions",),
    ),
    Setting(
        "REQUIRED_APPROVALS",
        "How many different allowed approvers must approve (1-5); an author the identity map cannot "
        "resolve raises it to at least 2. A Reject from any allowed approver rejects at once.",
        "1",
        ("request_approval", "slack_interactions", "rollback_prod"),
    ),
    Setting(
        "IDENTITY_MAP",
        "JSON object: trigger principal -> Slack user id, to know the author (who may not approve "
        "their own model). Keys: a full IAM user or assumed-role session ARN; `<role>/<session>` "
        "(an assumed-role session of any account); a bare session name (Identity Center "
        "`AWSReservedSSO_*` roles only); `github:<login>` / `gitlab:<username>` (case-insensitive). "
        "ARNs match exactly; the git author email is never used. See `domain/identity.py`.",
        "{}",
        ("request_approval", "rollback_prod"),
    ),
    Setting(
        "IDENTITY_LOOKUP",
        "`none`, or `identity_center_email`: a pusher the map does not name, in an Identity Center "
        "role session whose name is an email address, is looked up by that address in Slack "
        "(trusts the Identity Center directory and the workspace's emails, not the pusher).",
        "none",
        ("request_approval", "rollback_prod"),
    ),
    Setting(
        "APPROVAL_TIMEOUT_SECONDS",
        "How long an approval waits (also in the ASL).",
        "86400",
        ("request_approval",),
    ),
    Setting(
        "SIGNATURE_MAX_AGE_SECONDS",
        "Slack request timestamps older than this are refused.",
        "300",
        ("slack_interactions",),
    ),
    Setting(
        "GIT_HOST",
        "`github` or `gitlab`: whose push webhooks the endpoint verifies (Terraform `git_source`).",
        None,
        ("git_webhook",),
    ),
    Setting(
        "GIT_REPOSITORY",
        "The model repository's path on the host (`owner/name`, GitLab `group/project`); pushes to "
        "any other repository are ignored.",
        None,
        ("git_webhook",),
    ),
    Setting("GIT_BRANCH", "The branch whose pushes start the pipeline.", "main", ("git_webhook",)),
    Setting(
        "GIT_WEBHOOK_SECRET_ARN",
        'Secrets Manager secret `{"secret"}`: the webhook secret (GitHub) or token (GitLab), a '
        "secret of its own that no other function can read.",
        None,
        ("git_webhook",),
    ),
    Setting("STATE_MACHINE_ARN", "The pipeline's state machine, started per push.", None, ("git_webhook",)),
    Setting(
        "WEBHOOK_MAX_AGE_SECONDS",
        "A GitHub delivery whose push (`repository.pushed_at`) is older than this, or as far in the "
        "future, is refused; each push's idempotency record lives this long and a day.",
        "259200",
        ("git_webhook",),
    ),
    Setting(
        "PROD_ROLLBACK_FUNCTION",
        "Name or ARN of the prod rollback function, which a claimed 'Roll back prod' click starts "
        "(asynchronously); empty: the button is refused as not configured.",
        "",
        ("slack_interactions",),
    ),
    Setting(
        "MLFLOW_UI_URL",
        "MLflow UI base URL for links on cards (optional).",
        "",
        ("all",),
    ),
    Setting("POWERTOOLS_SERVICE_NAME", "Service name in structured logs.", "mlops-pipeline", ("all",)),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of a documented setting; ConfigError if required and unset."""
    if name not in _BY_NAME:
        raise ConfigError(f"{name} is not a documented setting (see mlops_pipeline.config.SETTINGS)")
    source = os.environ if env is None else env
    value = source.get(name)
    if value is None or value == "":
        default = _BY_NAME[name].default
        if default is None:
            raise ConfigError(f"environment variable {name} is required: {_BY_NAME[name].description}")
        return default
    return value


def get_bool(name: str, env: Mapping[str, str] | None = None) -> bool:
    raw = get(name, env).strip().lower()
    if raw in {"true", "1", "yes"}:
        return True
    if raw in {"false", "0", "no", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def get_float(name: str, env: Mapping[str, str] | None = None) -> float:
    raw = get(name, env)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def get_int(name: str, env: Mapping[str, str] | None = None) -> int:
    raw = get(name, env)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def get_list(name: str, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    return tuple(p.strip() for p in get(name, env).split(",") if p.strip())


# Where a declared model is missing: the Terraform variable that declares the models.
MODELS_VARIABLE = "models"


@dataclass(frozen=True)
class ModelFunction:
    """One declared model's inference function in one environment."""

    model: str
    function_name: str
    smoke_max_latency_ms: float | None = None


def undeclared_model(model: str, declared: Iterable[str], where: str) -> ConfigError:
    """The refusal of a model name the deployment does not declare, saying how to declare it."""
    # The remedy first: a report cut short (Slack, 600 characters) still says what to do.
    known = ", ".join(sorted(declared)) or "none"
    return ConfigError(
        f"model {model!r} is not declared {where}: add it to the Terraform variable "
        f'`{MODELS_VARIABLE}` (`{MODELS_VARIABLE} = {{ "{model}" = {{}} }}`) and apply, or set [model] name '
        f"in mlops.toml to a declared model (every model gets its own inference functions; "
        f"declared: {known})"
    )


@dataclass(frozen=True)
class DeployTarget:
    """One environment: the role assumed there and the function of each declared model."""

    environment: str
    role_arn: str
    functions: Mapping[str, ModelFunction]
    alias: str = "live"
    external_id: str | None = None

    def function_for(self, model: str) -> ModelFunction:
        """The function of ``model``; ConfigError naming the Terraform variable when undeclared."""
        try:
            return self.functions[model]
        except KeyError:
            raise undeclared_model(model, self.functions, f"in {self.environment}") from None


@dataclass(frozen=True)
class DeployTargets:
    targets: dict[str, DeployTarget] = field(default_factory=dict)

    def __getitem__(self, environment: str) -> DeployTarget:
        try:
            return self.targets[environment]
        except KeyError:
            known = ", ".join(sorted(self.targets)) or "none"
            raise ConfigError(f"no deploy target {environment!r} (configured: {known})") from None


def _model_functions(environment: str, raw: Any) -> dict[str, ModelFunction]:
    where = f"DEPLOY_TARGETS[{environment!r}].functions"
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where} must map each declared model to its function")
    functions: dict[str, ModelFunction] = {}
    for model, spec in raw.items():
        if isinstance(spec, str):
            spec = {"function_name": spec}
        if not isinstance(spec, dict) or not spec.get("function_name"):
            raise ConfigError(f"{where}[{model!r}] needs function_name")
        latency = spec.get("smoke_max_latency_ms")
        if latency is not None and (
            isinstance(latency, bool) or not isinstance(latency, int | float) or latency <= 0
        ):
            raise ConfigError(f"{where}[{model!r}].smoke_max_latency_ms must be a positive number")
        functions[str(model)] = ModelFunction(
            str(model), str(spec["function_name"]), float(latency) if latency is not None else None
        )
    return functions


def deploy_targets(env: Mapping[str, str] | None = None) -> DeployTargets:
    raw = get("DEPLOY_TARGETS", env)
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"DEPLOY_TARGETS is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("DEPLOY_TARGETS must be a JSON object keyed by environment")
    targets: dict[str, DeployTarget] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not spec.get("role_arn"):
            raise ConfigError(f"DEPLOY_TARGETS[{name!r}] needs role_arn and functions")
        if "function_name" in spec:
            # The one-function shape of earlier releases: a model would land in another's function.
            raise ConfigError(
                f"DEPLOY_TARGETS[{name!r}] names one function_name for every model; it now needs "
                f"`functions` (one per declared model, Terraform variable `{MODELS_VARIABLE}`)"
            )
        targets[name] = DeployTarget(
            environment=name,
            role_arn=str(spec["role_arn"]),
            functions=_model_functions(name, spec.get("functions")),
            alias=str(spec.get("alias") or "live"),
            external_id=spec.get("external_id") or None,
        )
    return DeployTargets(targets)


def declared_models(env: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """DECLARED_MODELS as a set; None when unset (a developer's own build: no check)."""
    names = get_list("DECLARED_MODELS", env)
    return frozenset(names) if names else None


def check_declared(model: str, env: Mapping[str, str] | None = None) -> None:
    """ConfigError, before any work, when DECLARED_MODELS is set and does not list ``model``."""
    declared = declared_models(env)
    if declared is not None and model not in declared:
        raise undeclared_model(model, declared, "in this deployment")


def render_markdown() -> str:
    """The table in docs/configuration.md."""
    lines = [
        "# Configuration of the pipeline Lambdas",
        "",
        "Generated from `src/mlops_pipeline/config.py` by `mlops-pipeline config-doc`; edit there.",
        "Secrets are never in environment variables: only the ARNs of Secrets Manager secrets.",
        "",
        "| variable | default | used by | meaning |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = "(required)" if s.default is None else (f"`{s.default}`" if s.default else "(empty)")
        lines.append(f"| `{s.name}` | {default} | {', '.join(s.used_by)} | {s.description} |")
    return "\n".join(lines) + "\n"
