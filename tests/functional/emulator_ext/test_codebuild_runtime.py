"""The local CodeBuild runtime: StartBuild runs the buildspec against a clean checkout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.local.emulator import codebuild
from mlops_pipeline.local.emulator.emulator import Emulator

pytestmark = pytest.mark.functional

TWO_PHASES = """\
version: 0.2
env:
  variables:
    GREETING: from-buildspec
  exported-variables:
    - MODEL_VERSION
    - FROM_PROJECT
phases:
  pre_build:
    commands:
      - cd sub
      - export MODEL_VERSION="v-$(cat version.txt)"
  build:
    commands:
      - test "$(basename "$PWD")" = sub
      - echo "building $MODEL_VERSION in $CODEBUILD_SRC_DIR at $CODEBUILD_RESOLVED_SOURCE_VERSION"
      - test -z "$(git -C "$CODEBUILD_SRC_DIR" status --porcelain)"
      - aws_id=$(python -c "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])")
      - export FROM_PROJECT="$FROM_PROJECT/$aws_id/$GREETING"
"""


def _wait(emulator: Emulator, build_id: str, timeout: float = 30.0) -> dict[str, Any]:
    codebuild = emulator.client("codebuild")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildStatus"] != "IN_PROGRESS":
            return dict(build)
        time.sleep(0.1)
    raise AssertionError(f"build {build_id} still running")


def test_build_runs_the_phases_and_exports_variables(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    origin, commit = source_repo({"buildspec.yml": TWO_PHASES, "sub/version.txt": "7\n"})
    codebuild.register_repository("models-ok", origin)
    make_project(
        "build-ok",
        "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models-ok",
        env=[{"name": "FROM_PROJECT", "value": "project", "type": "PLAINTEXT"}],
    )
    lines: list[str] = []
    listener = lambda build_id, line: lines.append(line)  # noqa: E731
    codebuild.add_log_listener(listener)
    try:
        started = emulator.client("codebuild").start_build(projectName="build-ok", sourceVersion=commit)
        assert started["build"]["buildStatus"] == "IN_PROGRESS"
        build = _wait(emulator, started["build"]["id"])
    finally:
        codebuild.remove_log_listener(listener)

    log = codebuild.log_path(build["id"]).read_text()
    assert build["buildStatus"] == "SUCCEEDED", log
    assert build["currentPhase"] == "COMPLETED"
    assert build["resolvedSourceVersion"] == commit
    assert {v["name"]: v["value"] for v in build["exportedEnvironmentVariables"]} == {
        "MODEL_VERSION": "v-7",
        "FROM_PROJECT": "project/111111111111/from-buildspec",
    }
    statuses = {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}
    assert statuses["PRE_BUILD"] == statuses["BUILD"] == "SUCCEEDED"
    assert build["endTime"] >= build["startTime"]
    assert "building v-7 in" in log and commit in log
    assert any("building v-7" in line for line in lines)


def test_failing_command_fails_the_build_and_skips_later_phases(
    emulator: Emulator, source_repo: Any, make_project: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "must-not-exist"
    buildspec = f"""\
version: 0.2
phases:
  install:
    commands:
      - echo installing
  pre_build:
    commands:
      - "false"
      - touch {marker}
    finally:
      - echo cleanup-ran
  build:
    commands:
      - touch {marker}
"""
    origin, _ = source_repo({"README": "x"})
    make_project("build-fails", str(origin), buildspec=buildspec)
    build_id = emulator.client("codebuild").start_build(projectName="build-fails")["build"]["id"]
    build = _wait(emulator, build_id)

    assert build["buildStatus"] == "FAILED"
    phases = {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}
    assert phases["INSTALL"] == "SUCCEEDED"
    assert phases["PRE_BUILD"] == "FAILED"
    assert "BUILD" not in phases and "POST_BUILD" not in phases
    assert not marker.exists()
    assert "cleanup-ran" in codebuild.log_path(build_id).read_text()


def test_build_times_out_and_is_killed(
    emulator: Emulator, source_repo: Any, make_project: Any, fast_minutes: None
) -> None:
    origin, _ = source_repo({"README": "x"})
    make_project(
        "build-slow",
        str(origin),
        buildspec="version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n",
        timeout=5,
    )
    started = time.monotonic()
    build_id = emulator.client("codebuild").start_build(projectName="build-slow")["build"]["id"]
    build = _wait(emulator, build_id, timeout=15)

    assert build["buildStatus"] == "TIMED_OUT"
    assert time.monotonic() - started < 10
    assert {p["phaseType"]: p.get("phaseStatus") for p in build["phases"]}["BUILD"] == "TIMED_OUT"


def test_stop_build_kills_it(emulator: Emulator, source_repo: Any, make_project: Any) -> None:
    origin, _ = source_repo({"README": "x"})
    make_project(
        "build-stop",
        str(origin),
        buildspec="version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n",
    )
    codebuild = emulator.client("codebuild")
    build_id = codebuild.start_build(projectName="build-stop")["build"]["id"]
    deadline = time.monotonic() + 10
    while codebuild.batch_get_builds(ids=[build_id])["builds"][0].get("currentPhase") != "BUILD":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopped = codebuild.stop_build(id=build_id)["build"]
    assert stopped["buildStatus"] == "STOPPED"


def test_source_version_may_name_a_branch(
    emulator: Emulator, source_repo: Any, make_project: Any, run_git: Any, tmp_path: Path
) -> None:
    origin, _ = source_repo({"which.txt": "main\n"})
    work = tmp_path / "branch-work"
    run_git(tmp_path, "clone", "-q", str(origin), str(work))
    run_git(work, "checkout", "-q", "-b", "feature")
    (work / "which.txt").write_text("feature\n")
    run_git(work, "commit", "-q", "-am", "feature")
    run_git(work, "push", "-q", "origin", "feature")
    make_project(
        "build-branch",
        str(origin),
        buildspec="version: 0.2\nenv:\n  exported-variables: [WHICH]\n"
        "phases:\n  build:\n    commands:\n      - export WHICH=$(cat which.txt)\n",
    )
    build_id = emulator.client("codebuild").start_build(
        projectName="build-branch", sourceVersion="refs/heads/feature"
    )["build"]["id"]
    build = _wait(emulator, build_id)
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["exportedEnvironmentVariables"] == [{"name": "WHICH", "value": "feature"}]
    assert build["resolvedSourceVersion"] == run_git(work, "rev-parse", "HEAD")


def test_secrets_manager_variables_are_resolved_and_masked_in_the_log(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    secret = emulator.client("secretsmanager").create_secret(
        Name="mlflow-user", SecretString='{"username": "pipeline", "password": "s3cr3t-value"}'
    )["ARN"]
    origin, _ = source_repo({"README": "x"})
    make_project(
        "build-secret",
        str(origin),
        buildspec="version: 0.2\nphases:\n  build:\n    commands:\n"
        '      - test "$MLFLOW_TRACKING_PASSWORD" = s3cr3t-value\n'
        '      - echo "pw=$MLFLOW_TRACKING_PASSWORD"\n',
        env=[{"name": "MLFLOW_TRACKING_PASSWORD", "value": f"{secret}:password", "type": "SECRETS_MANAGER"}],
    )
    build = _wait(
        emulator, emulator.client("codebuild").start_build(projectName="build-secret")["build"]["id"]
    )

    log = codebuild.log_path(build["id"]).read_text()
    assert build["buildStatus"] == "SUCCEEDED", log
    assert "pw=***" in log
    assert "s3cr3t-value" not in log


def test_invalid_buildspec_fails_before_any_phase(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    origin, _ = source_repo({"README": "x"})
    make_project(
        "build-bad-spec", str(origin), buildspec="version: 0.2\nphases:\n  compile:\n    commands: [make]\n"
    )
    build = _wait(
        emulator, emulator.client("codebuild").start_build(projectName="build-bad-spec")["build"]["id"]
    )

    assert build["buildStatus"] == "FAILED"
    download = next(p for p in build["phases"] if p["phaseType"] == "DOWNLOAD_SOURCE")
    assert download["phaseStatus"] == "CLIENT_ERROR"
    assert "compile" in download["contexts"][0]["message"]
    assert not any(p["phaseType"] == "BUILD" for p in build["phases"])


def test_reserved_override_is_rejected_and_starts_nothing(
    emulator: Emulator, source_repo: Any, make_project: Any
) -> None:
    origin, _ = source_repo({"README": "x"})
    make_project(
        "build-reserved", str(origin), buildspec="version: 0.2\nphases:\n  build:\n    commands: [true]\n"
    )
    codebuild = emulator.client("codebuild")
    with pytest.raises(codebuild.exceptions.InvalidInputException, match="CODEBUILD_"):
        codebuild.start_build(
            projectName="build-reserved",
            environmentVariablesOverride=[{"name": "CODEBUILD_BUILD_ID", "value": "x", "type": "PLAINTEXT"}],
        )
    assert codebuild.list_builds_for_project(projectName="build-reserved")["ids"] == []
