"""The moto patch: CodeBuild's StartBuild, BatchGetBuilds and StopBuild run and report local builds.

moto alone only records a build and reports it SUCCEEDED on the first ``BatchGetBuilds``.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.local.emulator.codebuild.api import get_build, start_backend_build, stop_build
from mlops_pipeline.local.emulator.codebuild.errors import InvalidBuildRequestError
from mlops_pipeline.local.emulator.codebuild.registry import REGISTRY
from mlops_pipeline.local.emulator.codebuild.sfn import install_sfn_integration


def _learn_endpoint(response: Any) -> None:
    # The latest CodeBuild request tells where the server listens (a restarted emulator moves).
    host = (getattr(response, "headers", None) or {}).get("Host")
    if host:
        REGISTRY.learn_endpoint(host)


def install() -> None:
    """Patch moto in-process: StartBuild/BatchGetBuilds/StopBuild run real builds; SFN integration."""
    if REGISTRY.installed:
        return
    from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
    from moto.codebuild.models import CodeBuildBackend
    from moto.codebuild.responses import CodeBuildResponse
    from moto.core.responses import ActionResult

    original_batch_get = CodeBuildBackend.batch_get_builds
    original_create = CodeBuildResponse.create_project

    def create_project(self: CodeBuildResponse) -> Any:
        _learn_endpoint(self)
        return original_create(self)

    def start_build_response(self: CodeBuildResponse) -> ActionResult:
        _learn_endpoint(self)
        name = self._get_param("projectName")
        backend = self.codebuild_backend
        if name not in backend.codebuild_projects:
            raise ResourceNotFoundException(
                f"Project cannot be found: arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}"
            )
        try:
            record = start_backend_build(
                backend,
                name,
                source_version=self._get_param("sourceVersion"),
                environment_overrides=self._get_param("environmentVariablesOverride") or [],
                timeout_minutes=self._get_param("timeoutInMinutesOverride"),
                buildspec_override=self._get_param("buildspecOverride"),
                initiator="mlops-local",
            )
        except InvalidBuildRequestError as exc:
            raise InvalidInputException(str(exc)) from exc
        return ActionResult({"build": record})

    def batch_get_builds(self: CodeBuildBackend, ids: list[str]) -> list[dict[str, Any]]:
        local = [record for record in (get_build(i) for i in ids) if record is not None]
        others = [i for i in ids if get_build(i) is None]
        return local + (original_batch_get(self, others) if others else [])

    def stop_build_response(self: CodeBuildResponse) -> ActionResult:
        build_id = self._get_param("id")
        if get_build(build_id) is None:
            raise InvalidInputException(f"Build {build_id} does not exist")
        return ActionResult({"build": stop_build(build_id)})

    CodeBuildResponse.create_project = create_project  # type: ignore[method-assign]
    CodeBuildResponse.start_build = start_build_response  # type: ignore[method-assign]
    CodeBuildResponse.stop_build = stop_build_response  # type: ignore[method-assign]
    CodeBuildBackend.batch_get_builds = batch_get_builds  # type: ignore[method-assign]
    install_sfn_integration()
    REGISTRY.installed = True
