"""Putting the pipeline into a running emulator: the boto3 harness (default) or ``terraform apply``.

Both create the same things (tables, Slack secrets, Lambdas, CodeBuild project, state machine,
push rule) and configure the local git remote for the repository; with ``--git-host github|gitlab``
the harness creates the webhook's secret and settings instead of the push rule; :class:`Provisioned` says
where the daemon finds them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.local.stack.checkout import TRAIN_BUILDSPEC_PATH, buildspec_text, repository_root
from mlops_pipeline.local.stack.errors import LocalStackError
from mlops_pipeline.local.stack.state import StackOptions, check_models, check_rollout

log = logging.getLogger(__name__)

REPOSITORY_NAME = "mlops-models"
BRANCH = "main"
DEFAULT_CHANNEL = "C0PIPELINE"
ENVIRONMENTS = ("stage", "prod")
LOCAL_SMOKE_MAX_LATENCY_MS = 20000
# Terraform's `rollout` per StackOptions.rollout. gradual: terraform/live/local's default (two
# short steps, no metrics delay: the emulator writes Lambda's metrics at once; no p99 ratio: each
# local invocation starts a fresh process); the demo drives traffic during the bake.
LOCAL_ROLLOUTS: dict[str, dict[str, Any]] = {
    "gradual": {
        "mode": "gradual",
        "steps": [50, 100],
        "bake_seconds": 10,
        "max_p99_ratio": "off",
        "metrics_delay_seconds": 0,
    },
    "all_at_once": {"mode": "all_at_once", "metrics_delay_seconds": 0},
}


def harness_rollout(rollout: str) -> tuple[str, dict[str, str]]:
    """The harness' ``(rollout_mode, extra_env)`` for ``rollout``: the ROLLOUT_* settings the
    pipeline module renders from :data:`LOCAL_ROLLOUTS` (the mode and delay the harness sets)."""
    chosen = LOCAL_ROLLOUTS[check_rollout(rollout)]
    if chosen["mode"] != "gradual":
        return str(chosen["mode"]), {}
    return "gradual", {
        "ROLLOUT_STEPS": ",".join(str(step) for step in chosen["steps"]),
        "ROLLOUT_BAKE_SECONDS": str(chosen["bake_seconds"]),
        "ROLLOUT_MAX_P99_RATIO": str(chosen["max_p99_ratio"]),
    }


@dataclass(frozen=True)
class Provisioned:
    """What provisioning created, as the daemon needs it for the gateway and ``stack.json``."""

    remote: Any  # the configured LocalGitRemote
    state_machine_arn: str
    table: str
    # Each declared model's inference function per environment: {model: {"stage": fn, "prod": fn}}.
    inference_functions: dict[str, dict[str, str]]
    interactions_function: str
    channel: str
    pipeline: Any = None  # the harness' PipelineStack (None after terraform)
    webhook: Any = None  # the WebhookEndpoint with --git-host github|gitlab (None: CodeCommit's rule)


def provision_harness(
    options: StackOptions,
    state_dir: Path,
    emu: Any,
    mlflow_url: str,
    slack_api_url: str,
    secret: Mapping[str, str],
    channel: str = DEFAULT_CHANNEL,
) -> Provisioned:
    """Provision with boto3 (``local/stack/harness.py``), a few seconds."""
    from mlops_pipeline.local.stack.git_remote import LocalGitRemote
    from mlops_pipeline.local.stack.harness import LOCAL_AUTHOR, LOCAL_PUSHER, PipelineStack, StackSettings
    from mlops_pipeline.local.stack.webhook_endpoint import host_repository, provision_webhook
    from mlops_pipeline.local.stack.webhook_sender import LOCAL_LOGIN

    host, models = options.git_host, check_models(options.models)
    if host == "codecommit":  # with a GitHub or GitLab source there is no CodeCommit repository
        emu.client("codecommit").create_repository(
            repositoryName=REPOSITORY_NAME, repositoryDescription="Model code (local git remote)"
        )
    remote = LocalGitRemote(state_dir / "git", REPOSITORY_NAME, BRANCH)
    remote.configure(emu.endpoint_url, emu.credentials("tooling"))
    # Who pushes is the local user in either mode: the emulator's admin, or the host's login.
    identity_map = {LOCAL_PUSHER: LOCAL_AUTHOR}
    if host != "codecommit":
        identity_map[f"{host}:{LOCAL_LOGIN}"] = LOCAL_AUTHOR
    rollout_mode, rollout_env = harness_rollout(options.rollout)
    settings = StackSettings(
        channel=channel,
        approvers=options.approvers,
        approval_timeout_seconds=options.approval_timeout_seconds,
        identity_map=identity_map,
        buildspec=buildspec_text(),
        train_buildspec=buildspec_text(TRAIN_BUILDSPEC_PATH),
        models=models,
        rollout_mode=rollout_mode,
        extra_env=rollout_env,
    )
    pipeline = PipelineStack(emu, mlflow_url, slack_api_url, remote.path, settings)
    pipeline.provision(secret)
    webhook = None
    if host == "codecommit":
        pipeline.add_push_trigger(remote.repository_name, remote.arn, remote.branch)
    else:  # the hook delivers to the gateway's webhook route once it listens (runner.py)
        webhook = provision_webhook(pipeline, host, host_repository(remote.repository_name), remote.branch)
    return Provisioned(
        remote=remote,
        state_machine_arn=pipeline.state_machine_arn,
        table=pipeline.table,
        inference_functions=harness_functions(pipeline, models),
        interactions_function=pipeline.function_name("slack_interactions"),
        channel=settings.channel,
        pipeline=pipeline,
        webhook=webhook,
    )


def provision_terraform(
    options: StackOptions,
    state_dir: Path,
    emu: Any,
    mlflow_url: str,
    slack_api_url: str,
    secret: Mapping[str, str],
    channel: str = DEFAULT_CHANNEL,
) -> Provisioned:
    """``terraform apply`` of terraform/live/local against the emulator (a copy, state in the state dir)."""
    from mlops_pipeline import packaging, tf
    from mlops_pipeline.local.stack.git_remote import LocalGitRemote

    models = check_models(options.models)
    if options.git_host != "codecommit":
        raise LocalStackError(
            "--git-host github|gitlab is provisioned by the boto3 harness only for now: "
            "run without --terraform (terraform/live/local keeps git_source = codecommit)"
        )
    root = repository_root()
    if root is None:
        raise LocalStackError("--terraform needs the project's source checkout (terraform/, statemachine/)")
    work = state_dir / "terraform"
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*")
    shutil.copytree(root / "terraform", work / "terraform", ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(root / "statemachine", work / "statemachine", dirs_exist_ok=True)
    step = time.monotonic()
    dist = work / "dist"
    # The packages, and placeholder.zip: the inference functions' code before any model exists.
    packaging.build_all(dist, "host")
    log.info("lambda packages built in %.1fs", time.monotonic() - step)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(emu.env("tooling"))
    env.pop("AWS_ENDPOINT_URL")  # the root passes the endpoint per service
    runner = tf.Terraform(work / "terraform" / tf.LOCAL_ROOT, data_dir=work / "data", env=env)
    variables = {
        "endpoint_url": emu.endpoint_url,
        "lambda_dist_dir": str(dist),
        "slack_api_url": slack_api_url,
        "slack_channel": channel,
        "approvers": json.dumps(list(options.approvers)),
        "approval_timeout_seconds": str(options.approval_timeout_seconds),
        "mlflow_tracking_uri": mlflow_url,
        "build_python": sys.executable,
        "local_state_dir": str(state_dir),
        # One inference function per declared model in stage and prod. The emulator starts each
        # invocation's runtime in a subprocess, so a cold smoke request takes seconds on a busy
        # machine: the harness' bound (StackSettings.smoke_max_latency_ms), not AWS's 3000 ms.
        "models": json.dumps(
            {model: {"smoke_max_latency_ms": LOCAL_SMOKE_MAX_LATENCY_MS} for model in models}
        ),
        # How prod moves (the module renders deploy_prod's ROLLOUT_*; overrides may not set them).
        "rollout": json.dumps(LOCAL_ROLLOUTS[check_rollout(options.rollout)]),
    }
    step = time.monotonic()
    runner.init()
    runner.apply(variables)
    outputs = runner.output()
    log.info("terraform apply of %s took %.1fs", tf.LOCAL_ROOT, time.monotonic() - step)
    # Terraform creates the secrets without a value (secrets never go through its state): the bot
    # token and, in a secret of its own that only slack_interactions reads, the signing secret.
    secrets = emu.client("secretsmanager")
    for output, key in (("slack_secret_arn", "bot_token"), ("slack_signing_secret_arn", "signing_secret")):
        secrets.put_secret_value(SecretId=outputs[output], SecretString=json.dumps({key: secret[key]}))
    remote = LocalGitRemote(state_dir / "git", str(outputs["repository_name"]), BRANCH)
    remote.configure(emu.endpoint_url, emu.credentials("tooling"))
    return Provisioned(
        remote=remote,
        state_machine_arn=str(outputs["state_machine_arn"]),
        table=str(outputs["table_name"]),
        inference_functions=terraform_functions(outputs["deploy_targets"], models),
        interactions_function=str(outputs["function_names"]["slack_interactions"]),
        channel=channel,
    )


def terraform_functions(
    deploy_targets: Mapping[str, Any], models: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    """``{model: {env: function}}`` from the ``deploy_targets`` output (``[env].functions[model]``);
    LocalStackError when the apply did not create a function for a declared model."""
    functions: dict[str, dict[str, str]] = {}
    for model in models:
        for environment in ENVIRONMENTS:
            created = deploy_targets.get(environment, {}).get("functions", {}).get(model)
            if not created:
                raise LocalStackError(
                    f"terraform/live/local created no {environment} function for model {model!r}: "
                    "does its `models` variable exist?"
                )
            functions.setdefault(model, {})[environment] = str(created["function_name"])
    return functions


def harness_functions(pipeline: Any, models: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``{model: {env: function}}`` as the harness created them (the same name in both accounts)."""
    return {model: dict.fromkeys(ENVIRONMENTS, pipeline.inference_function_for(model)) for model in models}
