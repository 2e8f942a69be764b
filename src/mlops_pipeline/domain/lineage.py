"""Lineage tags: one chain from commit -> run -> model version -> artifact -> Lambda version."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Written by the build; the image path also writes image_uri and image_digest.
BUILD_TAGS = (
    "git_commit",
    "pipeline_execution",
    "artifact_kind",
    "artifact_uri",
    "artifact_sha256",
    "artifact_s3_version",
)


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def deployment_tags(
    environment: str,
    deploy: Mapping[str, Any],
    at: datetime,
    approval: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Tags written on the model version once ``environment`` serves it."""
    tags = {
        f"deployed_{environment}_at": iso(at),
        f"{environment}_lambda_version": str(deploy["new_version"]),
        f"{environment}_function": str(deploy.get("function_name", "")),
    }
    if approval:
        tags["approved_by"] = str(approval.get("approved_by", ""))
        tags["approved_at"] = str(approval.get("approved_at", ""))
    return tags


def alias_for(environment: str) -> str:
    """Registry alias of an environment: stage -> staging, prod -> production."""
    return {"stage": "staging", "prod": "production"}.get(environment, environment)
