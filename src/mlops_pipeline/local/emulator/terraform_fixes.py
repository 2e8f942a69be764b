"""What ``terraform apply`` of the local root needs from moto 5.2.5 and does not get.

* CodeCommit: ``creationDate``/``lastModifiedDate`` are timestamps (moto sends strings the
  provider cannot read), ``kmsKeyId`` is returned, ``TagResource``/``UntagResource``/
  ``ListTagsForResource`` and ``UpdateRepositoryDescription`` exist, ``CreateRepository`` keeps
  its tags.
* Plan drift (moto answers something other than what the provider sent), fixed by returning
  what was sent: Lambda ``ImageConfig`` (no ``ImageConfigResponse`` when none was sent),
  CodeBuild ``encryptionKey``, ECS ``availabilityZoneRebalancing``, RDS cluster
  ``ScalingConfigurationInfo`` (only for clusters created with a scaling configuration).
* CodeBuild ``UpdateProject`` (moto has none); ``NO_SOURCE`` projects need no location.

``install()`` patches moto in-process and is idempotent.
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

from moto.core.utils import unix_time

_INSTALLED = False
_LOCK = threading.Lock()


def install() -> None:
    """Apply every fix once (safe to call again)."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _fix_codecommit()
        _fix_lambda_image_config()
        _fix_codebuild()
        _fix_ecs()
        _fix_rds()
        _INSTALLED = True


# --------------------------------------------------------------------------- CodeCommit


def _repository_tags(backend: Any) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] | None = getattr(backend, "_mlops_tags", None)
    if tags is None:
        tags = {}
        backend._mlops_tags = tags
    return tags


def _repository_by_arn(backend: Any, arn: str) -> Any:
    from moto.codecommit.exceptions import RepositoryDoesNotExistException

    for repository in backend.repositories.values():
        if repository.repository_metadata["Arn"] == arn:
            return repository
    raise RepositoryDoesNotExistException(arn.rsplit(":", 1)[-1])


def _fix_codecommit() -> None:
    from moto.codecommit.models import CodeCommit
    from moto.codecommit.responses import CodeCommitResponse

    original_init = CodeCommit.__init__
    original_create = CodeCommitResponse.create_repository

    def init(self: CodeCommit, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        metadata: dict[str, Any] = self.repository_metadata
        now = unix_time()  # the JSON protocol's timestamps are epoch seconds
        metadata["creationDate"] = now
        metadata["lastModifiedDate"] = now

    def create_repository(self: CodeCommitResponse) -> str:
        original_create(self)
        name = self._get_param("repositoryName")
        repository = self.codecommit_backend.repositories[name]
        if self._get_param("kmsKeyId"):
            repository.repository_metadata["kmsKeyId"] = self._get_param("kmsKeyId")
        _repository_tags(self.codecommit_backend)[repository.repository_metadata["Arn"]] = dict(
            self._get_param("tags") or {}
        )
        return json.dumps({"repositoryMetadata": repository.repository_metadata})

    def tag_resource(self: CodeCommitResponse) -> str:
        arn = self._get_param("resourceArn")
        _repository_by_arn(self.codecommit_backend, arn)
        _repository_tags(self.codecommit_backend).setdefault(arn, {}).update(self._get_param("tags") or {})
        return "{}"

    def untag_resource(self: CodeCommitResponse) -> str:
        arn = self._get_param("resourceArn")
        _repository_by_arn(self.codecommit_backend, arn)
        tags = _repository_tags(self.codecommit_backend).setdefault(arn, {})
        for key in self._get_param("tagKeys") or []:
            tags.pop(key, None)
        return "{}"

    def list_tags_for_resource(self: CodeCommitResponse) -> str:
        arn = self._get_param("resourceArn")
        _repository_by_arn(self.codecommit_backend, arn)
        return json.dumps({"tags": _repository_tags(self.codecommit_backend).get(arn, {})})

    def update_repository_description(self: CodeCommitResponse) -> str:
        metadata: dict[str, Any] = self.codecommit_backend.get_repository(self._get_param("repositoryName"))
        metadata["repositoryDescription"] = self._get_param("repositoryDescription") or ""
        metadata["lastModifiedDate"] = unix_time()
        return "{}"

    CodeCommit.__init__ = init  # type: ignore[method-assign]
    CodeCommitResponse.create_repository = create_repository  # type: ignore[method-assign]
    CodeCommitResponse.tag_resource = tag_resource  # type: ignore[attr-defined]
    CodeCommitResponse.untag_resource = untag_resource  # type: ignore[attr-defined]
    CodeCommitResponse.list_tags_for_resource = list_tags_for_resource  # type: ignore[attr-defined]
    CodeCommitResponse.update_repository_description = update_repository_description  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- Lambda


def _fix_lambda_image_config() -> None:
    from moto.awslambda.models import ImageConfig, LambdaFunction

    original_init = ImageConfig.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: ImageConfig, config: dict[str, Any]) -> None:
        original_init(self, config)
        self.sent = dict(config or {})  # type: ignore[attr-defined]

    def response(self: ImageConfig) -> dict[str, Any]:
        # Exactly the members the caller set: moto adds empty Command/EntryPoint lists, which the
        # provider reads back as a configured image_config block.
        return dict(getattr(self, "sent", {}))

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, on_create)
        if not getattr(self.image_config, "sent", None):
            config.pop("ImageConfigResponse", None)
        return config

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = original_update(self, config_updates)
        if "ImageConfig" in config_updates:
            self.image_config = ImageConfig(config_updates["ImageConfig"] or {})
            result = self.get_configuration()
        return result

    ImageConfig.__init__ = init  # type: ignore[method-assign]
    ImageConfig.response = response  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]


# --------------------------------------------------------------------------- CodeBuild


_PROJECT_UPDATABLE = {
    "description": "description",
    "source": "source",
    "artifacts": "artifacts",
    "environment": "environment",
    "serviceRole": "serviceRole",
    "timeoutInMinutes": "timeoutInMinutes",
    "queuedTimeoutInMinutes": "queuedTimeoutInMinutes",
    "encryptionKey": "encryptionKey",
    "tags": "tags",
    "cache": "cache",
    "logsConfig": "logsConfig",
    "vpcConfig": "vpcConfig",
    "sourceVersion": "sourceVersion",
    "badgeEnabled": None,
}


def _fix_codebuild() -> None:
    from moto.codebuild import responses as codebuild_responses
    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.codebuild.responses import CodeBuildResponse
    from moto.core.responses import ActionResult

    original_create = CodeBuildResponse.create_project
    original_validate = codebuild_responses._validate_required_params_source

    def validate_source(source: dict[str, Any]) -> None:
        # NO_SOURCE and CODEPIPELINE sources have no location; moto demands one for every type.
        if source.get("type") in {"NO_SOURCE", "CODEPIPELINE"}:
            return
        original_validate(source)

    codebuild_responses._validate_required_params_source = validate_source

    def create_project(self: CodeBuildResponse) -> Any:
        result = original_create(self)
        key = self._get_param("encryptionKey")
        if key:
            self.codebuild_backend.codebuild_projects[self._get_param("name")].project_metadata[
                "encryptionKey"
            ] = key
        return result

    def update_project(self: CodeBuildResponse) -> ActionResult:
        name = self._get_param("name")
        project = self.codebuild_backend.codebuild_projects.get(name)
        if project is None:
            raise ResourceNotFoundException(f"Project cannot be found: {name}")
        metadata = project.project_metadata
        for param, key in _PROJECT_UPDATABLE.items():
            value = self._get_param(param)
            if value is None:
                continue
            if key is None:
                metadata.setdefault("badge", {})["badgeEnabled"] = value
            else:
                metadata[key] = value
        if self._get_param("serviceRole"):
            project.service_role = self._get_param("serviceRole")
        if self._get_param("tags") is not None:
            project.tags = self._get_param("tags")
        metadata["lastModifiedDate"] = unix_time()
        return ActionResult({"project": metadata})

    CodeBuildResponse.create_project = create_project  # type: ignore[method-assign]
    CodeBuildResponse.update_project = update_project  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- ECS


def _fix_ecs() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_create = EC2ContainerServiceResponse.create_service

    def create_service(self: EC2ContainerServiceResponse) -> Any:
        result = original_create(self)
        value = self._get_param("availabilityZoneRebalancing")
        if value is not None:
            # update_service already stores it (moto copies every updated member).
            service: Any = cast(dict[str, Any], result.result)["service"]
            service.availability_zone_rebalancing = value
        return result

    EC2ContainerServiceResponse.create_service = create_service  # type: ignore[method-assign]


# --------------------------------------------------------------------------- RDS


def _fix_rds() -> None:
    from moto.rds.models import DBCluster

    original: Any = DBCluster.scaling_configuration_info

    def scaling_configuration_info(self: DBCluster) -> dict[str, Any] | None:
        # moto always answers a block of nulls, which the provider reads as a configured
        # (Serverless v1) scaling_configuration.
        if not self.scaling_configuration:
            return None
        return cast(dict[str, Any], original.fget(self))

    DBCluster.scaling_configuration_info = property(scaling_configuration_info)  # type: ignore[method-assign,assignment]
