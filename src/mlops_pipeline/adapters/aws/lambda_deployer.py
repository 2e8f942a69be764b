"""FunctionDeployer on AWS Lambda: code update (zip from S3 or image), published version, alias move.

The alias (``live``) is the only thing traffic follows, so it moves last and only to a
published, Active version whose code is the artifact's sha256. Every failure before that
leaves it where it was and raises ``DeploymentError`` with a reason a person can act on.

A zip artifact is one S3 object version in the tooling account's artifacts bucket:
``UpdateFunctionCode`` names bucket, key and version, and Lambda reads it with the caller's
(the target account's deploy role's) permissions, so that role needs ``s3:GetObjectVersion``
there and ``kms:Decrypt`` on the bucket's key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from mlops_pipeline.adapters.aws import metrics, traffic
from mlops_pipeline.adapters.aws.session import assume_role_session
from mlops_pipeline.config import DeployTarget, ModelFunction
from mlops_pipeline.domain.errors import DeploymentError, InvokeError
from mlops_pipeline.domain.models import Artifact, ArtifactKind, DeployResult, InvokeResult
from mlops_pipeline.domain.rollout import BakeMetrics


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return str(exc)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# Lambda's PackageType for each artifact kind; a function's package type never changes.
PACKAGE_TYPES = {ArtifactKind.ZIP: "Zip", ArtifactKind.IMAGE: "Image"}


def code_location(artifact: Artifact) -> dict[str, str]:
    """The UpdateFunctionCode arguments that name the artifact's code."""
    if artifact.kind is ArtifactKind.ZIP:
        bucket, key, version = artifact.s3_location
        return {"S3Bucket": bucket, "S3Key": key, "S3ObjectVersion": version}
    return {"ImageUri": artifact.uri}


def is_published_version(version: str) -> bool:
    """True for a numbered, published version ("1", "42"); False for ``$LATEST`` and anything else."""
    return version.isascii() and version.isdigit() and int(version) > 0


class LambdaDeployer:
    """Deploys serving artifacts to one function and moves one alias."""

    def __init__(
        self,
        function_name: str,
        alias: str = "live",
        lambda_client: Any | None = None,
        waiter_delay: int = 1,
        waiter_max_attempts: int = 300,
        cloudwatch_client: Any | None = None,
    ) -> None:
        self.function_name = function_name
        self.alias = alias
        self._lambda = lambda_client if lambda_client is not None else boto3.client("lambda")
        # The function's metrics live in its own account: read them through the same role.
        self._cloudwatch = cloudwatch_client
        self._waiter_config = {"Delay": waiter_delay, "MaxAttempts": waiter_max_attempts}

    @classmethod
    def for_target(
        cls,
        target: DeployTarget,
        function: ModelFunction,
        session_name: str,
        sts_client: Any | None = None,
    ) -> LambdaDeployer:
        """A deployer of one model's function, acting through the target account's deploy role."""
        session = assume_role_session(
            target.role_arn, session_name, external_id=target.external_id, sts_client=sts_client
        )
        return cls(
            function.function_name,
            alias=target.alias,
            lambda_client=session.client("lambda"),
            cloudwatch_client=session.client("cloudwatch"),
        )

    # -- reading -------------------------------------------------------------------------

    def _get_alias(self) -> dict[str, Any] | None:
        try:
            alias: dict[str, Any] = self._lambda.get_alias(FunctionName=self.function_name, Name=self.alias)
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                # Either the alias or the function is missing; tell the two apart.
                self._require_function()
                return None
            raise DeploymentError(
                f"cannot read alias {self.alias!r} of {self.function_name}: {_error_text(exc)}"
            ) from exc
        return alias

    def _require_function(self, qualifier: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": self.function_name}
        if qualifier is not None:
            params["Qualifier"] = qualifier
        try:
            config: dict[str, Any] = self._lambda.get_function_configuration(**params)
        except ClientError as exc:
            what = f"version {qualifier} of {self.function_name}" if qualifier else self.function_name
            if _error_code(exc) == "ResourceNotFoundException":
                raise DeploymentError(f"function {what} does not exist in this account") from exc
            raise DeploymentError(f"cannot read {what}: {_error_text(exc)}") from exc
        return config

    def current_version(self) -> str | None:
        """The version behind the alias, or None if the alias does not exist yet."""
        alias = self._get_alias()
        return None if alias is None else str(alias["FunctionVersion"])

    # -- deploying -----------------------------------------------------------------------

    def deploy(
        self,
        artifact: Artifact,
        before_alias_move: Callable[[str | None, str], None] | None = None,
        move_alias: bool = True,
    ) -> DeployResult:
        """UpdateFunctionCode, wait, check the code, PublishVersion, move the alias; alias untouched on failure.

        ``before_alias_move(previous, new)`` runs after the version is Active, just before the move.
        ``move_alias=False``: publish only (a gradual rollout shifts the traffic afterwards).
        """
        alias = self._get_alias()
        previous = None if alias is None else str(alias["FunctionVersion"])
        package_type = self._require_function().get("PackageType", "Zip")
        if package_type != PACKAGE_TYPES[artifact.kind]:
            raise DeploymentError(
                f"{self.function_name} is a {package_type} function and cannot run the {artifact.kind} "
                f"artifact {artifact.uri}; make the target accounts' serving package type match "
                "(Terraform serving_package_type; it re-creates the function)"
            )

        try:
            updated = self._lambda.update_function_code(
                FunctionName=self.function_name, Publish=False, **code_location(artifact)
            )
        except ClientError as exc:
            raise DeploymentError(
                f"UpdateFunctionCode of {self.function_name} with {artifact.uri} failed: {_error_text(exc)}"
            ) from exc
        code_sha256 = str(updated.get("CodeSha256") or "")
        if code_sha256 != artifact.lambda_code_sha256:
            # Never publish code other than the bytes the build recorded in the registry.
            raise DeploymentError(
                f"{self.function_name} got code {code_sha256 or '(none)'} from {artifact.uri}, "
                f"not the artifact's {artifact.lambda_code_sha256}; not published"
            )

        self._wait_for_update()

        try:
            published = self._lambda.publish_version(FunctionName=self.function_name, CodeSha256=code_sha256)
        except ClientError as exc:
            # A CodeSha256 mismatch means someone else changed the code meanwhile.
            raise DeploymentError(
                f"PublishVersion of {self.function_name} failed: {_error_text(exc)}"
            ) from exc
        new_version = str(published.get("Version", ""))
        if not is_published_version(new_version):
            raise DeploymentError(f"PublishVersion returned {new_version!r}, not a published version")
        if code_sha256 and published.get("CodeSha256") not in (None, code_sha256):
            raise DeploymentError(
                f"published version {new_version} has code {published.get('CodeSha256')}, expected {code_sha256}"
            )
        self._wait_version_active(new_version)

        if move_alias:
            if before_alias_move is not None:
                before_alias_move(previous, new_version)
            self._move_alias(new_version, alias)
        return DeployResult(
            function_name=self.function_name,
            alias=self.alias,
            previous_version=previous,
            new_version=new_version,
            code_sha256=code_sha256,
        )

    def _wait_for_update(self) -> None:
        waiter = self._lambda.get_waiter("function_updated_v2")
        try:
            waiter.wait(FunctionName=self.function_name, WaiterConfig=self._waiter_config)
        except WaiterError as exc:
            config = (exc.last_response or {}).get("Configuration", {})
            status = config.get("LastUpdateStatus")
            reason = config.get("LastUpdateStatusReason") or config.get("LastUpdateStatusReasonCode")
            if status == "Failed":
                raise DeploymentError(
                    f"code update of {self.function_name} failed: {reason or 'no reason given'}"
                ) from exc
            raise DeploymentError(
                f"code update of {self.function_name} did not finish (status {status or 'unknown'}): {exc}"
            ) from exc
        # The waiter accepts "Successful" only, but say so explicitly: never publish anything else.
        status = self._require_function().get("LastUpdateStatus", "Successful")
        if status != "Successful":
            raise DeploymentError(f"code update of {self.function_name} ended as {status}")

    def _wait_version_active(self, version: str) -> None:
        waiter = self._lambda.get_waiter("published_version_active")
        try:
            waiter.wait(FunctionName=self.function_name, Qualifier=version, WaiterConfig=self._waiter_config)
        except WaiterError as exc:
            config = exc.last_response or {}
            state = config.get("State", "unknown")
            reason = config.get("StateReason") or "no reason given"
            raise DeploymentError(
                f"version {version} of {self.function_name} is not Active (state {state}: {reason})"
            ) from exc

    def _move_alias(self, version: str, alias: Mapping[str, Any] | None) -> None:
        if not is_published_version(version):
            raise DeploymentError(f"refusing to point {self.alias!r} at {version!r}")
        try:
            if alias is None:
                self._lambda.create_alias(
                    FunctionName=self.function_name, Name=self.alias, FunctionVersion=version
                )
            else:
                params: dict[str, Any] = {
                    "FunctionName": self.function_name,
                    "Name": self.alias,
                    "FunctionVersion": version,
                    # All traffic to ``version``: weights left by an interrupted rollout go too
                    # (AWS refuses an alias whose extra version is its main one).
                    "RoutingConfig": {"AdditionalVersionWeights": {}},
                }
                if alias.get("RevisionId"):
                    # Optimistic concurrency: fail if the alias moved since we read it.
                    params["RevisionId"] = alias["RevisionId"]
                self._lambda.update_alias(**params)
        except ClientError as exc:
            if _error_code(exc) in {"PreconditionFailedException", "ResourceConflictException"}:
                raise DeploymentError(
                    f"alias {self.alias!r} of {self.function_name} was changed by someone else meanwhile; "
                    "not moved"
                ) from exc
            raise DeploymentError(
                f"moving alias {self.alias!r} of {self.function_name} to {version} failed: {_error_text(exc)}"
            ) from exc

    def rollback(self, to_version: str) -> None:
        """Move the alias back to a published version (never ``$LATEST``)."""
        if not is_published_version(to_version):
            raise DeploymentError(f"can only roll back to a published version number, not {to_version!r}")
        self._require_function(qualifier=to_version)
        alias = self._get_alias()
        self._move_alias(to_version, alias)

    # -- invoking ------------------------------------------------------------------------

    def invoke_alias(self, payload: Mapping[str, Any], qualifier: str | None = None) -> InvokeResult:
        """Invoke the alias (or the published version ``qualifier``) synchronously; FunctionError
        and payload as the function returned them."""
        if qualifier is not None and not is_published_version(qualifier):
            raise InvokeError(
                f"refusing to invoke {self.function_name} at {qualifier!r}: not a published version"
            )
        target = f"{self.function_name}:{qualifier or self.alias}"
        body = json.dumps(payload).encode("utf-8")
        started = time.perf_counter()
        try:
            # "name:alias" rather than Qualifier=: equivalent on AWS, and the form every
            # Lambda emulator resolves (moto ignores the Qualifier query parameter).
            response = self._lambda.invoke(
                FunctionName=target, InvocationType="RequestResponse", Payload=body
            )
            raw = response["Payload"].read()
        except (ClientError, BotoCoreError) as exc:
            raise InvokeError(f"invoking {target} failed: {_error_text(exc)}") from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        parsed: Any
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text  # not JSON: hand back the text so the smoke test can report it
        return InvokeResult(
            status_code=int(response.get("StatusCode", 0)),
            payload=parsed,
            function_error=response.get("FunctionError"),
            latency_ms=latency_ms,
            executed_version=response.get("ExecutedVersion"),
        )

    # -- gradual rollout -------------------------------------------------------------------

    def shift_traffic(self, new_version: str, weight: int, previous_version: str | None) -> None:
        """``weight`` percent of the alias's traffic to ``new_version`` (RevisionId-guarded)."""
        traffic.shift(self._lambda, self.function_name, self.alias, new_version, weight, previous_version)

    def bake_metrics(self, versions: Sequence[str], start: datetime, end: datetime) -> dict[str, BakeMetrics]:
        """What each version served through the alias in [start, end), from the target's CloudWatch."""
        if self._cloudwatch is None:
            self._cloudwatch = boto3.client("cloudwatch")
        return metrics.read_bake(self._cloudwatch, self.function_name, self.alias, versions, start, end)
