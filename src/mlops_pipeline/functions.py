"""The pipeline's Lambda functions, as ``terraform/modules/pipeline/lambda.tf`` defines them.

Deploy, smoke test and rollback run once per environment (``deploy_stage``, ``deploy_prod``,
...): the same handler module, but each with its own role and a ``DEPLOY_TARGETS`` that names
its own environment only, so nothing a stage function does can reach prod. Every other
function serves the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENTS = ("stage", "prod")
PER_ENVIRONMENT = ("deploy", "smoke_test", "rollback")
SHARED = (
    "report",
    "evaluate",
    "promote",
    "request_approval",
    "expire_approval",
    "slack_interactions",
    "notify",
    "git_webhook",
)
# Only with a GitHub or GitLab source (Terraform git_source): CodeCommit pushes arrive through
# EventBridge instead.
WEBHOOK_ONLY = frozenset({"git_webhook"})


@dataclass(frozen=True)
class Function:
    """One Lambda function: its name (Terraform key, ASL placeholder stem) and handler module."""

    name: str
    handler: str  # module under mlops_pipeline.handlers
    environment: str | None = None  # the one environment it may act on (None: not environment-bound)


FUNCTIONS: tuple[Function, ...] = tuple(Function(name, name) for name in SHARED) + tuple(
    Function(f"{module}_{environment}", module, environment)
    for environment in ENVIRONMENTS
    for module in PER_ENVIRONMENT
)
BY_NAME = {f.name: f for f in FUNCTIONS}
