"""Moving an alias's traffic between two versions with Lambda's weighted routing.

``shift(lambda_client, function, alias, new_version, weight)`` gives ``new_version``
``weight`` percent of the alias's requests:

* 0 < weight < 100: ``FunctionVersion`` stays the previous version, ``RoutingConfig``
  sends ``weight / 100`` of the requests to the new one;
* 100: ``FunctionVersion`` = the new version, routing cleared (the rollout is done);
* 0: ``FunctionVersion`` = the previous version, routing cleared (rolled back).

The previous version is the alias's ``FunctionVersion`` while the new one only has a share;
once the new one took everything, a step back needs ``previous_version``. Every update
carries the ``RevisionId`` just read, so an alias moved meanwhile by someone else (another
run, a person) is never overwritten: ``DeploymentError``, the alias as that other party left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_pipeline.domain.errors import DeploymentError

FULL = 100
CONFLICT_CODES = frozenset({"PreconditionFailedException", "ResourceConflictException"})


@dataclass(frozen=True)
class AliasTraffic:
    """Where an alias sends its requests: ``version`` takes what ``weights`` (percent) leave."""

    version: str
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""

    def share(self, version: str) -> float:
        """Percent of the alias's requests that ``version`` serves."""
        if version == self.version:
            return FULL - sum(self.weights.values())
        return self.weights.get(version, 0.0)


def _traffic(alias: dict[str, Any]) -> AliasTraffic:
    routing = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasTraffic(
        version=str(alias["FunctionVersion"]),
        weights={str(v): round(float(w) * FULL, 6) for v, w in routing.items()},
        revision_id=str(alias.get("RevisionId", "")),
    )


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return str(exc)


def read(lambda_client: Any, function: str, alias: str) -> AliasTraffic:
    """The alias's current routing; DeploymentError when it cannot be read."""
    try:
        return _traffic(lambda_client.get_alias(FunctionName=function, Name=alias))
    except (ClientError, BotoCoreError) as exc:
        raise DeploymentError(f"cannot read alias {alias!r} of {function}: {_error_text(exc)}") from exc


def shift(
    lambda_client: Any,
    function: str,
    alias: str,
    new_version: str,
    weight: int,
    previous_version: str | None = None,
) -> AliasTraffic:
    """Give ``new_version`` ``weight`` percent of ``alias`` (RevisionId-guarded); the routing after."""
    new_version = str(new_version)
    if not (new_version.isdigit() and int(new_version) > 0):
        raise DeploymentError(f"refusing to route {alias!r} to {new_version!r}: not a published version")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= FULL:
        raise DeploymentError(f"traffic weight must be a whole percentage 0..100, not {weight!r}")
    current = read(lambda_client, function, alias)
    previous = current.version if current.version != new_version else previous_version
    params: dict[str, Any] = {"FunctionName": function, "Name": alias}
    if weight == FULL:
        params.update(FunctionVersion=new_version, RoutingConfig={"AdditionalVersionWeights": {}})
    else:
        if previous is None or previous == new_version:
            raise DeploymentError(
                f"alias {alias!r} of {function} already runs v{new_version} only: "
                "name the previous version to move traffic back to"
            )
        weights = {new_version: weight / FULL} if weight else {}
        params.update(FunctionVersion=str(previous), RoutingConfig={"AdditionalVersionWeights": weights})
    if current.revision_id:
        params["RevisionId"] = current.revision_id  # optimistic concurrency: fail if it moved since
    try:
        return _traffic(lambda_client.update_alias(**params))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in CONFLICT_CODES:
            raise DeploymentError(
                f"alias {alias!r} of {function} was changed by someone else meanwhile; traffic not shifted"
            ) from exc
        raise DeploymentError(
            f"shifting {weight} % of {alias!r} of {function} to v{new_version} failed: {_error_text(exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise DeploymentError(
            f"shifting {weight} % of {alias!r} of {function} to v{new_version} failed: {exc}"
        ) from exc
