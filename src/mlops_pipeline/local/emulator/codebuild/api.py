"""CodeBuild's operations on local builds: start (also for a moto backend), get, stop, wait.

Each takes the registry that holds the builds; the default is the one moto's patches use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlops_pipeline.local.emulator.codebuild.build import BuildRequest, LocalBuild
from mlops_pipeline.local.emulator.codebuild.environment import validate_overrides
from mlops_pipeline.local.emulator.codebuild.errors import BuildNotFoundError
from mlops_pipeline.local.emulator.codebuild.registry import REGISTRY, CodeBuildRegistry


def start_build(request: BuildRequest, registry: CodeBuildRegistry = REGISTRY) -> dict[str, Any]:
    """Start a local build; returns its first API record (camelCase, datetimes)."""
    build = LocalBuild(request, registry)
    registry.add(build)
    build.start()
    return build.snapshot()


def get_build(build_id: str, registry: CodeBuildRegistry = REGISTRY) -> dict[str, Any] | None:
    """The current API record of a local build, or None."""
    build = registry.find(build_id)
    return build.snapshot() if build is not None else None


def stop_build(
    build_id: str, timeout: float = 10.0, registry: CodeBuildRegistry = REGISTRY
) -> dict[str, Any]:
    """Stop a running build (kill its shell); returns the final record."""
    build = registry.find(build_id)
    if build is None:
        raise BuildNotFoundError(build_id)
    build.stop()
    build.done.wait(timeout)
    return build.snapshot()


def stop_all_builds(timeout: float = 10.0, registry: CodeBuildRegistry = REGISTRY) -> None:
    """Stop every running build (the emulator calls this when it stops)."""
    registry.stop_all(timeout)


def wait_for_build(
    build_id: str, timeout: float = 60.0, registry: CodeBuildRegistry = REGISTRY
) -> dict[str, Any]:
    """Block until the build is finished (or ``timeout``); returns its record."""
    build = registry.find(build_id)
    if build is None:
        raise BuildNotFoundError(build_id)
    build.done.wait(timeout)
    return build.snapshot()


def start_backend_build(
    backend: Any,
    project_name: str,
    *,
    source_version: str | None = None,
    environment_overrides: Sequence[Mapping[str, Any]] = (),
    timeout_minutes: int | None = None,
    buildspec_override: str | None = None,
    initiator: str = "mlops-local",
) -> dict[str, Any]:
    """Start a build of a project held by a moto CodeBuild backend and record it in its history."""
    project = backend.codebuild_projects[project_name]
    validate_overrides(environment_overrides)
    record = start_build(
        BuildRequest(
            account_id=backend.account_id,
            region=backend.region_name,
            project=project.project_metadata,
            source_version=source_version,
            environment_overrides=environment_overrides,
            timeout_minutes=timeout_minutes,
            buildspec_override=buildspec_override,
            initiator=initiator,
        )
    )
    backend.build_history.setdefault(project_name, []).append(record["id"])
    return record
