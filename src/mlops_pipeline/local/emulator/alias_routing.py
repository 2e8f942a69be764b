"""Weighted alias routing and alias revisions in the emulator, as Lambda does them.

moto stores an alias's ``RoutingConfig`` but always runs ``FunctionVersion``, keeps one
``RevisionId`` for the alias's whole life and ignores the ``RevisionId`` of ``UpdateAlias``.
A gradual rollout needs all three, so:

* ``AliasRouter.route`` picks the version an invocation of an alias runs: each
  ``AdditionalVersionWeights`` version with its weight, ``FunctionVersion`` with the rest.
  Its random source is seedable so that tests can pin a sequence.
* ``install()`` makes ``UpdateAlias`` refuse a stale ``RevisionId`` (PreconditionFailed),
  gives the alias a new revision on every update, and validates a routing config the way
  Lambda does (one additional version, a published one other than ``FunctionVersion``,
  weight 0.0..1.0).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException, PreconditionFailedException
from moto.awslambda.models import LambdaAlias, LambdaBackend
from moto.awslambda.responses import LambdaResponse

MAX_ADDITIONAL_VERSIONS = 1  # Lambda routes an alias to at most two versions


def routing_weights(routing_config: Any) -> dict[str, float]:
    """``{version: weight}`` of a stored RoutingConfig (empty when there is none)."""
    if isinstance(routing_config, str):  # moto keeps what the request sent; JSON text is possible
        routing_config = json.loads(routing_config or "{}")
    if not isinstance(routing_config, Mapping):
        return {}
    weights = routing_config.get("AdditionalVersionWeights") or {}
    return {str(version): float(weight) for version, weight in weights.items()}


class AliasRouter:
    """Picks the version behind each invocation of a weighted alias (thread safe, seedable)."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - traffic splitting, not cryptography

    def seed(self, value: int | None) -> None:
        """Restart the random sequence (tests pin the versions picked)."""
        with self._lock:
            self._random.seed(value)

    def pick(self, primary: str, weights: Mapping[str, float]) -> str:
        """The version one invocation runs: an additional version with its weight, else ``primary``."""
        with self._lock:
            draw = self._random.random()
        for version, weight in sorted(weights.items()):
            if draw < weight:
                return version
            draw -= weight
        return primary

    def route(self, backend: LambdaBackend, invoked_arn: str) -> str | None:
        """The version to run when ``invoked_arn`` names an alias with routing weights, else None."""
        parts = invoked_arn.split(":")
        if len(parts) < 8 or parts[7].isdigit() or parts[7] == "$LATEST":
            return None
        try:
            alias = backend._lambdas.get_alias(parts[7], parts[6])
        except Exception:  # no such alias or function: moto's own lookup reports it
            return None
        weights = routing_weights(alias.routing_config)
        if not weights:
            return None
        return self.pick(str(alias.function_version), weights)


def validate_routing(function_version: str | None, routing_config: Any) -> None:
    """InvalidParameterValueException for a routing config Lambda refuses."""
    weights = routing_weights(routing_config)
    if len(weights) > MAX_ADDITIONAL_VERSIONS:
        raise InvalidParameterValueException(
            f"Number of items in AdditionalVersionWeights cannot be greater than {MAX_ADDITIONAL_VERSIONS}"
        )
    for version, weight in weights.items():
        if not version.isdigit():
            raise InvalidParameterValueException(
                f"Invalid function version {version}: use a published version"
            )
        if not 0.0 <= weight <= 1.0:
            raise InvalidParameterValueException(f"Invalid weight {weight}: weights must be 0.0..1.0")
        if function_version is not None and version == str(function_version):
            raise InvalidParameterValueException(
                f"Invalid function version {version}. Function version {version} is already "
                "included in routing configuration."
            )


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto's aliases: RevisionId checks and new revisions, validated routing (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        original_update = LambdaAlias.update
        original_response_update = LambdaResponse.update_alias
        original_response_create = LambdaResponse.create_alias

        def update(
            self: LambdaAlias, description: str | None, function_version: str | None, routing_config: Any
        ) -> None:
            validate_routing(function_version or self.function_version, routing_config)
            original_update(self, description, function_version, routing_config)
            self.revision_id = str(uuid.uuid4())  # every change is a new revision on Lambda

        def response_update(self: LambdaResponse) -> Any:
            params = json.loads(self.body or "{}")
            expected = params.get("RevisionId")
            if expected:
                function_name = self.path.rsplit("/")[-3]
                alias_name = self.path.rsplit("/", 2)[-1]
                current = self.backend.get_alias(name=alias_name, function_name=function_name)
                if current.revision_id != expected:
                    raise PreconditionFailedException(
                        "The Revision Id provided does not match the latest Revision Id. "
                        "Call the GetAlias API to retrieve the latest Revision Id"
                    )
            return original_response_update(self)

        def response_create(self: LambdaResponse) -> Any:
            params = json.loads(self.body or "{}")
            validate_routing(params.get("FunctionVersion"), params.get("RoutingConfig"))
            return original_response_create(self)

        LambdaAlias.update = update  # type: ignore[method-assign]
        LambdaResponse.update_alias = response_update  # type: ignore[method-assign]
        LambdaResponse.create_alias = response_create  # type: ignore[method-assign]
