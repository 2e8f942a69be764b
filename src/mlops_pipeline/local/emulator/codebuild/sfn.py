"""The Step Functions integration: ``arn:aws:states:::codebuild:startBuild[.sync]`` in moto.

moto's ASL interpreter gets a ``codebuild`` service (``startBuild`` with or without ``.sync``,
``stopBuild``, ``batchGetBuilds``) that runs local builds; ``.sync`` fails the task with
``States.TaskFailed`` when the build does not succeed, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from mlops_pipeline.local.emulator.codebuild.api import get_build, start_backend_build, stop_build
from mlops_pipeline.local.emulator.codebuild.build import TERMINAL_STATUSES


def to_sfn_shape(value: Any) -> Any:
    """An API record in the shape Step Functions outputs: PascalCase keys, epoch-millis times."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: to_sfn_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_sfn_shape(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def install_sfn_integration() -> None:
    """Make moto's ASL interpreter run ``codebuild`` tasks with local builds."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

    service_class = _sfn_service_class()
    original = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "codebuild":
            return service_class()
        return original(service_name)

    state_task_factory.state_task_service_for = state_task_service_for


_SFN_SUPPORTED_PARAMETERS: dict[str, set[str]] = {
    "startbuild": {
        "ProjectName",
        "SourceVersion",
        "EnvironmentVariablesOverride",
        "TimeoutInMinutesOverride",
        "BuildspecOverride",
        "ArtifactsOverride",
        "SourceTypeOverride",
        "SourceLocationOverride",
        "ComputeTypeOverride",
        "ImageOverride",
        "PrivilegedModeOverride",
        "Tags",
    },
    "stopbuild": {"Id"},
    "batchgetbuilds": {"Ids"},
}


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _to_api_case(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _to_api_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_api_case(v) for v in value]
    return value


def _sfn_service_class() -> type:
    """The ``codebuild`` integration of moto's ASL interpreter (defined lazily: moto's parser is heavy)."""
    from moto.codebuild.models import codebuild_backends
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    class StateTaskServiceCodeBuild(StateTaskServiceCallback):
        """``arn:aws:states:::codebuild:startBuild[.sync]``, ``stopBuild``, ``batchGetBuilds``."""

        def __init__(self) -> None:
            # WaitForTaskToken is listed because moto's callback base needs its endpoint set up.
            patterns = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}
            super().__init__(supported_integration_patterns=cast(Any, patterns))

        def _get_supported_parameters(self) -> set[str] | None:
            return _SFN_SUPPORTED_PARAMETERS.get(self.resource.api_action.lower())

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            # The interpreter's own boto clients land in the default account, so the backend of the
            # state machine's account is called directly.
            backend = codebuild_backends[resource_runtime_part.account][resource_runtime_part.region]
            action = self.resource.api_action.lower()
            params = _to_api_case(normalised_parameters)
            if action == "startbuild":
                name = str(params["projectName"]).split("/")[-1]  # a project ARN is accepted too
                execution = env.states.context_object.context_object_data["Execution"]
                record = start_backend_build(
                    backend,
                    name,
                    source_version=params.get("sourceVersion"),
                    environment_overrides=params.get("environmentVariablesOverride") or [],
                    timeout_minutes=params.get("timeoutInMinutesOverride"),
                    buildspec_override=params.get("buildspecOverride"),
                    initiator=f"states/{execution.get('Name', '')}",
                )
                env.stack.append({"Build": to_sfn_shape(record)})
            elif action == "stopbuild":
                env.stack.append({"Build": to_sfn_shape(stop_build(params["id"]))})
            else:
                records = [r for r in (get_build(i) for i in params.get("ids", [])) if r]
                env.stack.append({"Builds": to_sfn_shape(records), "BuildsNotFound": []})

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            build_id = env.stack.pop()["Build"]["Id"]

            def resolve() -> dict[str, Any] | None:
                record = get_build(build_id)
                if record is None or record["buildStatus"] not in TERMINAL_STATUSES:
                    return None
                output = {"Build": to_sfn_shape(record)}
                if record["buildStatus"] == "SUCCEEDED":
                    return output
                # AWS fails a .sync CodeBuild task with States.TaskFailed and the build as cause.
                error = StatesErrorNameType.StatesTaskFailed.to_name()
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=cast(Any, EventDetails)(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=error,
                                cause=json.dumps(output, default=str),
                            )
                        ),
                    )
                )

            return resolve

    return StateTaskServiceCodeBuild
