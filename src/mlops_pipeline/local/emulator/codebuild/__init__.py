"""Local CodeBuild runtime: moto's ``StartBuild`` really runs the project's buildspec.

moto only records a build and reports it SUCCEEDED on the first ``BatchGetBuilds``. Here a
build is a background thread that clones the source at ``sourceVersion`` into a clean folder
and runs the buildspec phases with bash (``build``); ``BatchGetBuilds`` then reports what
really happened and ``StopBuild`` kills the shell (``moto_patch``). Step Functions gets the
``arn:aws:states:::codebuild:startBuild`` (and ``.sync``) integration (``sfn``). Settings,
builds, log listeners and registered repositories live in one registry (``registry``).

Logs: as on AWS, CloudWatch Logs (moto's backend) group ``/aws/codebuild/<project>``, stream
``<build uuid>`` (``logs``); also the file ``<state dir>/logs/codebuild/<build id>.log`` (state dir:
``MLOPS_LOCAL_STATE`` or ``./.mlops-local``), which the build record's ``logs.deepLink`` names, and
any listener added with :func:`add_log_listener`.

The Emulator calls :func:`install` when it starts and :func:`stop_all_builds` when it stops.
"""

from __future__ import annotations

from mlops_pipeline.local.emulator.codebuild.api import (
    get_build,
    start_backend_build,
    start_build,
    stop_all_builds,
    stop_build,
    wait_for_build,
)
from mlops_pipeline.local.emulator.codebuild.build import (
    TERMINAL_STATUSES,
    BuildRequest,
    LocalBuild,
    log_path,
)
from mlops_pipeline.local.emulator.codebuild.buildspec import Buildspec, PhaseSpec, parse_buildspec
from mlops_pipeline.local.emulator.codebuild.errors import (
    BuildNotFoundError,
    BuildspecError,
    InvalidBuildRequestError,
    SourceNotFoundError,
)
from mlops_pipeline.local.emulator.codebuild.moto_patch import install
from mlops_pipeline.local.emulator.codebuild.registry import (
    REGISTRY,
    CodeBuildRegistry,
    LogListener,
    add_log_listener,
    configure,
    register_repository,
    remove_log_listener,
    reset,
)
from mlops_pipeline.local.emulator.codebuild.sfn import to_sfn_shape

__all__ = [
    "REGISTRY",
    "TERMINAL_STATUSES",
    "BuildNotFoundError",
    "BuildRequest",
    "Buildspec",
    "BuildspecError",
    "CodeBuildRegistry",
    "InvalidBuildRequestError",
    "LocalBuild",
    "LogListener",
    "PhaseSpec",
    "SourceNotFoundError",
    "add_log_listener",
    "configure",
    "get_build",
    "install",
    "log_path",
    "parse_buildspec",
    "register_repository",
    "remove_log_listener",
    "reset",
    "start_backend_build",
    "start_build",
    "stop_all_builds",
    "stop_build",
    "to_sfn_shape",
    "wait_for_build",
]
