"""Turn a finished build into a candidate and judge it against the champion."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.domain.errors import InvalidEventError, ModelNotFoundError
from mlops_pipeline.domain.gate import evaluate
from mlops_pipeline.domain.gate_limits import GateLimits, gate_from_tags
from mlops_pipeline.domain.models import Artifact, artifact_kind
from mlops_pipeline.domain.trigger import push_time
from mlops_pipeline.ports import ModelRegistry

# The build's exported variables (CodeBuild ExportedEnvironmentVariables), see docs/contracts.md.
REQUIRED_EXPORTS = (
    "MODEL_NAME",
    "MODEL_VERSION",
    "ARTIFACT_URI",
    "ARTIFACT_KIND",
    "ARTIFACT_SHA256",
    "RUN_ID",
)


@dataclass(frozen=True)
class BuildOutput:
    model_name: str
    model_version: str
    artifact: Artifact
    run_id: str


def parse_build_exports(exported: Sequence[Mapping[str, Any]] | None) -> BuildOutput:
    """The build's exported variables (CodeBuild's ``[{Name, Value}]``) as a BuildOutput."""
    values: dict[str, str] = {}
    for item in exported or []:
        name = item.get("Name", item.get("name"))
        value = item.get("Value", item.get("value"))
        if isinstance(name, str) and isinstance(value, str):
            values[name] = value
    missing = [k for k in REQUIRED_EXPORTS if not values.get(k)]
    if missing:
        raise InvalidEventError(f"the build exported no {', '.join(missing)} (exported: {sorted(values)})")
    artifact = Artifact(
        artifact_kind(values["ARTIFACT_KIND"]), values["ARTIFACT_URI"], values["ARTIFACT_SHA256"]
    )
    return BuildOutput(
        model_name=values["MODEL_NAME"],
        model_version=values["MODEL_VERSION"],
        artifact=artifact,
        run_id=values["RUN_ID"],
    )


def serving_summary(flavor: str | None, fallback_reason: str | None = None) -> str:
    """``onnx``, or ``skops (fallback: <why>)``; "" when the build recorded no flavour."""
    if not flavor:
        return ""
    return f"{flavor} (fallback: {fallback_reason})" if fallback_reason else flavor


def _smoke_input(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def evaluate_candidate(
    registry: ModelRegistry,
    build: BuildOutput,
    trigger: Mapping[str, Any],
    limits: GateLimits,
) -> dict[str, Any]:
    """Everything later steps need about the candidate, plus the gate's verdict.

    ConfigError when the version's gate tags loosen ``limits``: such a candidate is not compared.
    """
    candidate = registry.get_version(build.model_name, build.model_version)
    commit = str(trigger.get("commit") or "")
    tagged_commit = candidate.tags.get("git_commit")
    if commit and tagged_commit and tagged_commit != commit:
        raise ModelNotFoundError(
            f"{build.model_name} v{build.model_version} was built from {tagged_commit[:12]}, "
            f"not from this execution's commit {commit[:12]}"
        )
    recorded = candidate.tags.get("artifact_sha256")
    if recorded and recorded != build.artifact.sha256:
        # The registry's lineage and what the build exported must name the same bytes.
        raise InvalidEventError(
            f"{build.model_name} v{build.model_version} records artifact sha256 {recorded[:12]}..., "
            f"the build exported {build.artifact.sha256[:12]}..."
        )
    # Before any comparison: a gate that loosens the pipeline's limits is refused, not judged.
    policy = gate_from_tags(candidate.tags, limits, build.model_name, build.model_version)
    champion = registry.get_champion(build.model_name)
    if champion is not None and champion.version == candidate.version:
        champion = None  # re-running the champion's own commit compares with nothing
    result = evaluate(
        policy,
        candidate.metrics,
        champion.metrics if champion else None,
        champion.version if champion else None,
    )
    # Commit order (the stale-commit check) is when the trigger saw the push; the commit date
    # in the registry's git_commit_time tag is whatever the pusher wrote, so it is never used.
    commit_time = push_time(trigger)
    return {
        "model_name": build.model_name,
        "model_version": build.model_version,
        "run_id": build.run_id,
        "artifact": build.artifact.to_dict(),
        "commit": commit or tagged_commit or "",
        "commit_time": commit_time,
        "author": str(trigger.get("author") or ""),
        "author_email": candidate.tags.get("git_author", ""),
        "smoke_input": _smoke_input(candidate.tags.get("smoke_input")),
        # How the model is served, and why not on ONNX when it fell back (the build's tags).
        "serving_flavor": candidate.tags.get("serving_flavor", ""),
        "serving_fallback_reason": candidate.tags.get("serving_fallback_reason", ""),
        "metrics": dict(candidate.metrics),
        "champion_metrics": dict(champion.metrics) if champion else {},
        **result.to_dict(),
    }
