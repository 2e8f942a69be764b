"""A local bare git repository that behaves like the CodeCommit model repository.

``git push`` to it (from any clone) runs its ``post-receive`` hook, which by default puts the event
CodeCommit puts on the default EventBridge bus (source ``aws.codecommit``, detail-type
``CodeCommit Repository State Change``) into the emulator: ``referenceCreated`` for a new
branch or tag, ``referenceUpdated`` for a moved one, ``referenceDeleted`` for a deleted one.
With ``set_webhook`` (``local up --git-host github|gitlab``) it POSTs the host's signed push
webhook to the local gateway instead (``webhook_sender.py``). The hook never fails the push:
errors go to ``<state dir>/logs/git-remote.log``.

    remote = LocalGitRemote(tmp / "git")
    remote.configure(emulator.endpoint_url, emulator.credentials("tooling"))
    git clone <remote.url>  ...  git push origin main
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlops_pipeline
from mlops_pipeline.local.emulator.image_store import state_dir
from mlops_pipeline.local.stack.errors import GitRemoteError

CONFIG_FILE = "mlops-remote.json"
ZERO_COMMIT = "0" * 40
# The hook must never hold a push for long: one short attempt, then give up and log.
_CONNECT_TIMEOUT = 2
_READ_TIMEOUT = 5


class LocalGitRemote:
    """A bare repository at ``<root>/<repository_name>.git`` standing in for CodeCommit."""

    def __init__(
        self,
        root: Path,
        repository_name: str = "mlops-models",
        branch: str = "main",
        account: str = "111111111111",
        region: str = "us-east-1",
    ) -> None:
        if not repository_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise GitRemoteError(f"invalid repository name {repository_name!r}")
        self.root = Path(root).resolve()
        self.repository_name = repository_name
        self.branch = branch
        self.account = account
        self.region = region
        self.path = self.root / f"{repository_name}.git"
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            _git(self.path, "init", "--quiet", "--bare", f"--initial-branch={branch}")
        self._write_hook()
        # A CodeBuild project whose source is this repository's CodeCommit URL clones it.
        # (Imported here: the hook process imports this module and must start fast.)
        from mlops_pipeline.local.emulator import codebuild

        codebuild.register_repository(repository_name, self.path)

    @property
    def url(self) -> str:
        """``file://`` URL to clone from and push to."""
        return self.path.as_uri()

    @property
    def arn(self) -> str:
        return f"arn:aws:codecommit:{self.region}:{self.account}:{self.repository_name}"

    @property
    def clone_url_http(self) -> str:
        """The CodeCommit HTTPS clone URL this remote stands for."""
        return f"https://git-codecommit.{self.region}.amazonaws.com/v1/repos/{self.repository_name}"

    def configure(
        self,
        endpoint_url: str,
        credentials: Mapping[str, str],
        caller_user_arn: str | None = None,
        event_bus_name: str = "default",
    ) -> None:
        """Write what the hook needs: emulator URL, credentials (acting in the repo's account).

        ``credentials`` are env-style (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional
        ``AWS_SESSION_TOKEN``). The repository id comes from the emulated CodeCommit repository
        of that name when it exists; ``callerUserArn`` from STS unless given.
        """
        keys = {k: credentials[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if k in credentials}
        if len(keys) != 2:
            raise GitRemoteError("credentials need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        if credentials.get("AWS_SESSION_TOKEN"):
            keys["AWS_SESSION_TOKEN"] = credentials["AWS_SESSION_TOKEN"]
        config: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "credentials": keys,
            "region": self.region,
            "account": self.account,
            "repository_name": self.repository_name,
            "repository_arn": self.arn,
            "repository_id": self._repository_id(endpoint_url, keys),
            "caller_user_arn": caller_user_arn or self._caller_arn(endpoint_url, keys),
            "event_bus_name": event_bus_name,
            "log_file": str(state_dir() / "logs" / "git-remote.log"),
        }
        target = self.path / CONFIG_FILE
        # Owner-only: it holds (emulator) credentials.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=2)

    def set_webhook(self, host: str, url: str, secret_arn: str, repository: str, login: str) -> None:
        """Make the hook deliver ``host``'s signed push webhook to ``url`` instead of CodeCommit's
        event. Only the secret's ARN is written: the hook reads the value from Secrets Manager."""
        target = self.path / CONFIG_FILE
        if not target.exists():
            raise GitRemoteError(f"{target} missing: call configure() first")
        config = json.loads(target.read_text(encoding="utf-8"))
        config["webhook"] = {
            "host": host,
            "url": url,
            "secret_arn": secret_arn,
            "repository": repository,
            "login": login,
            "deliveries_file": str(Path(config["log_file"]).parent / "git-webhook-deliveries.jsonl"),
        }
        target.write_text(json.dumps(config, indent=2), encoding="utf-8")  # stays 0600

    def _client(self, service: str, endpoint_url: str, keys: Mapping[str, str]) -> Any:
        return _client(service, endpoint_url, self.region, keys)

    def _repository_id(self, endpoint_url: str, keys: Mapping[str, str]) -> str:
        try:
            repo = self._client("codecommit", endpoint_url, keys).get_repository(
                repositoryName=self.repository_name
            )
            return str(repo["repositoryMetadata"]["repositoryId"])
        except Exception:  # no emulated repository (yet): a stable id of our own
            return str(uuid.uuid5(uuid.NAMESPACE_URL, self.arn))

    def _caller_arn(self, endpoint_url: str, keys: Mapping[str, str]) -> str:
        try:
            return str(self._client("sts", endpoint_url, keys).get_caller_identity()["Arn"])
        except Exception:
            return f"arn:aws:iam::{self.account}:user/local"

    def _write_hook(self) -> None:
        hook = self.path / "hooks" / "post-receive"
        hook.parent.mkdir(parents=True, exist_ok=True)
        src = Path(mlops_pipeline.__file__).resolve().parent.parent
        hook.write_text(
            "#!/bin/sh\n"
            "# Emits CodeCommit's EventBridge event into the local emulator (mlops_pipeline).\n"
            f'PYTHONPATH="{src}${{PYTHONPATH:+:$PYTHONPATH}}" '
            f'exec "{sys.executable}" -m mlops_pipeline.local.stack.git_remote hook\n',
            encoding="utf-8",
        )
        hook.chmod(0o755)


def install() -> None:
    """Nothing to patch in moto: the remote talks to the emulator through PutEvents (idempotent)."""


# --------------------------------------------------------------------------- the hook


def _client(service: str, endpoint_url: str, region: str, keys: Mapping[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=keys.get("AWS_SESSION_TOKEN"),
        config=Config(
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
            retries={"total_max_attempts": 1},
        ),
    )


def reference_event(config: Mapping[str, Any], old: str, new: str, ref: str) -> dict[str, Any] | None:
    """The ``PutEvents`` entry CodeCommit emits for one updated reference (None: not a branch/tag)."""
    if ref.startswith("refs/heads/"):
        ref_type, name = "branch", ref[len("refs/heads/") :]
    elif ref.startswith("refs/tags/"):
        ref_type, name = "tag", ref[len("refs/tags/") :]
    else:
        return None
    detail: dict[str, Any] = {
        "callerUserArn": config["caller_user_arn"],
        "repositoryId": config["repository_id"],
        "repositoryName": config["repository_name"],
        "referenceType": ref_type,
        "referenceName": name,
        "referenceFullName": ref,
    }
    if old == ZERO_COMMIT:
        detail.update(event="referenceCreated", commitId=new)
    elif new == ZERO_COMMIT:
        detail.update(event="referenceDeleted", oldCommitId=old)
    else:
        detail.update(event="referenceUpdated", commitId=new, oldCommitId=old)
    return {
        "Source": "aws.codecommit",
        "DetailType": "CodeCommit Repository State Change",
        "Resources": [config["repository_arn"]],
        "Detail": json.dumps(detail),
        "EventBusName": config.get("event_bus_name", "default"),
    }


def run_hook(git_dir: Path, lines: Sequence[str]) -> int:
    """Emit one event per pushed reference; returns how many were accepted. Raises on errors."""
    config_path = git_dir / CONFIG_FILE
    if not config_path.exists():
        raise GitRemoteError(f"{config_path} missing: call LocalGitRemote.configure() first")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if "webhook" in config:
        return _deliver_webhooks(git_dir, config, lines)
    entries = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        entry = reference_event(config, *parts)
        if entry is not None:
            entries.append(entry)
    if not entries:
        return 0
    events = _client("events", config["endpoint_url"], config["region"], config["credentials"])
    accepted = 0
    for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
        response = events.put_events(Entries=entries[start : start + 10])
        if response.get("FailedEntryCount"):
            raise GitRemoteError(f"PutEvents rejected entries: {response['Entries']}")
        accepted += len(response["Entries"])
    return accepted


def _deliver_webhooks(git_dir: Path, config: Mapping[str, Any], lines: Sequence[str]) -> int:
    """GitHub's or GitLab's push webhook instead of CodeCommit's event; how many were accepted."""
    from mlops_pipeline.local.stack.webhook_sender import send_pushes

    webhook = config["webhook"]
    secrets = _client("secretsmanager", config["endpoint_url"], config["region"], config["credentials"])
    value = secrets.get_secret_value(SecretId=webhook["secret_arn"])["SecretString"]
    statuses = send_pushes(git_dir, webhook, json.loads(value)["secret"], lines)
    refused = [s for s in statuses if not 200 <= s < 300]
    if refused:
        raise GitRemoteError(f"the webhook endpoint refused {len(refused)} delivery(ies): HTTP {refused}")
    return len(statuses)


def _what(git_dir: Path) -> str:
    """What the hook emits, for its messages: CodeCommit's event or a host's webhook."""
    try:
        webhook = json.loads((git_dir / CONFIG_FILE).read_text(encoding="utf-8")).get("webhook")
    except (OSError, ValueError):
        webhook = None
    return f"{webhook['host']} push webhook" if isinstance(webhook, dict) else "CodeCommit event"


def _log(git_dir: Path, message: str) -> None:
    log_file: Path | None = None
    try:
        config = json.loads((git_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        log_file = Path(config["log_file"])
    except Exception:
        log_file = state_dir() / "logs" / "git-remote.log"
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as fh:
            fh.write(f"{datetime.now(UTC).isoformat()} {git_dir}: {message}\n")
    except OSError:
        sys.stderr.write(message + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlops_pipeline.local.stack.git_remote hook`` (reads post-receive lines on stdin)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["hook"]:
        sys.stderr.write("usage: python -m mlops_pipeline.local.stack.git_remote hook\n")
        return 2
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    what = _what(git_dir)
    try:
        count = run_hook(git_dir, sys.stdin.read().splitlines())
        _log(git_dir, f"emitted {count} {what}(s)")
    except Exception:
        # Never fail the push: the commit is stored either way, like CodeCommit's or a host's.
        _log(git_dir, f"could not emit the {what}:\n" + traceback.format_exc())
        sys.stderr.write(f"mlops-local: could not emit the {what} (see git-remote.log)\n")
    return 0


def _git(cwd: Path, *args: str) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise GitRemoteError(f"git {args[0]} failed: {result.stderr.strip()}")


if __name__ == "__main__":
    raise SystemExit(main())
