"""The git webhook path of the local stack (``--git-host github|gitlab``), on a provisioned harness.

What Terraform's ``webhook.tf`` creates with a GitHub or GitLab ``git_source``, in the emulator:
the webhook's own secret (a fresh random value, only in the emulated Secrets Manager) and the
``git_webhook`` function's settings (``GIT_*``, the state machine it starts). The gateway route
``POST /git/webhook`` and the git remote's hook are wired by the caller (``wire``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.local.stack.errors import LocalStackError

GIT_HOSTS = ("codecommit", "github", "gitlab")
WEBHOOK_ROUTE = "/git/webhook"
LOCAL_OWNER = "local"  # the local host's owner (GitHub) or group (GitLab) of the model repository


@dataclass(frozen=True)
class WebhookEndpoint:
    """What the gateway and the git remote need to deliver pushes to ``git_webhook``."""

    host: str
    function_name: str
    secret_arn: str
    repository: str  # owner/name on the host
    branch: str


def check_git_host(host: str) -> str:
    """``host`` if it is one of GIT_HOSTS, else LocalStackError."""
    if host not in GIT_HOSTS:
        raise LocalStackError(f"--git-host must be one of {', '.join(GIT_HOSTS)}, not {host!r}")
    return host


def host_repository(repository_name: str) -> str:
    """The model repository's path on the local GitHub/GitLab (``local/<name>``)."""
    return f"{LOCAL_OWNER}/{repository_name}"


def provision_webhook(stack: Any, host: str, repository: str, branch: str = "main") -> WebhookEndpoint:
    """Create the webhook secret and give ``git_webhook`` of ``stack`` (a harness PipelineStack,
    provisioned) its settings; the function already exists with the shared ones."""
    if host not in ("github", "gitlab"):
        raise LocalStackError(f"no webhook for git host {host!r} (github or gitlab)")
    value = json.dumps({"secret": secrets.token_hex(32)})
    secret_arn = str(
        stack.emu.client("secretsmanager").create_secret(
            Name=f"{stack.settings.prefix}/git-webhook-secret", SecretString=value
        )["ARN"]
    )
    name = stack.function_name("git_webhook")
    client = stack.emu.client("lambda")
    current = client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
    own = {
        "GIT_HOST": host,
        "GIT_REPOSITORY": repository,
        "GIT_BRANCH": branch,
        "GIT_WEBHOOK_SECRET_ARN": secret_arn,
        "STATE_MACHINE_ARN": stack.state_machine_arn,
    }
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {**current, **own}})
    return WebhookEndpoint(host, name, secret_arn, repository, branch)


def read_secret(emu: Any, endpoint: WebhookEndpoint) -> str:
    """The webhook secret's value, from the emulated Secrets Manager (tests, redeliveries)."""
    value = emu.client("secretsmanager").get_secret_value(SecretId=endpoint.secret_arn)["SecretString"]
    return str(json.loads(value)["secret"])
