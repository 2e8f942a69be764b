"""One local build: a background thread that runs the buildspec phases against a clean checkout.

The source is cloned at ``sourceVersion`` into a clean folder and the buildspec phases (install,
pre_build, build, post_build) run with bash, one shell per phase; the environment (``cd``,
``export``) is carried from one phase to the next the way CodeBuild does, and
``env.exported-variables`` are read after the last phase. The build keeps the API record
``BatchGetBuilds`` reports (status, current phase, phases, times, exported variables);
``timeoutInMinutes`` is enforced and a stop kills the shell.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_pipeline.domain.errors import PipelineError
from mlops_pipeline.local.emulator.codebuild.buildspec import (
    BUILD_PHASES,
    Buildspec,
    PhaseSpec,
    phase_script,
)
from mlops_pipeline.local.emulator.codebuild.environment import (
    INHERITED_VARIABLES,
    read_env,
    resolve_variable,
    role_credentials,
)
from mlops_pipeline.local.emulator.codebuild.logs import CloudWatchSink, log_target
from mlops_pipeline.local.emulator.codebuild.registry import REGISTRY, CodeBuildRegistry
from mlops_pipeline.local.emulator.codebuild.source import checkout, load_buildspec
from mlops_pipeline.local.emulator.image_store import state_dir

LOG = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
DEFAULT_TIMEOUT_MINUTES = 60


def log_path(build_id: str) -> Path:
    """Where the log of a build is written."""
    return state_dir() / "logs" / "codebuild" / f"{build_id}.log"


@dataclass
class BuildRequest:
    """What a StartBuild asks for: the project (its API record) and the per-build overrides."""

    account_id: str
    region: str
    project: Mapping[str, Any]
    source_version: str | None = None
    environment_overrides: Sequence[Mapping[str, Any]] = ()
    timeout_minutes: int | None = None
    buildspec_override: str | None = None
    initiator: str = "mlops-local"


class LocalBuild:
    """One running (or finished) build and its API record."""

    def __init__(self, request: BuildRequest, registry: CodeBuildRegistry = REGISTRY) -> None:
        project = request.project
        self.request = request
        self.registry = registry
        self.project_name: str = project["name"]
        self.id = f"{self.project_name}:{uuid.uuid4()}"
        self.arn = f"arn:aws:codebuild:{request.region}:{request.account_id}:build/{self.id}"
        self.lock = threading.RLock()
        self.done = threading.Event()
        self._stop_requested = False
        self._process: subprocess.Popen[bytes] | None = None
        self.workdir = state_dir() / "codebuild" / self.id.replace(":", "_")
        self.log_file = log_path(self.id)
        self._log_target = log_target(request.account_id, request.region, project, self.id)
        self._cloudwatch = CloudWatchSink(self._log_target)
        self._log_lock = threading.Lock()  # the output pump and the build thread both log
        timeout = request.timeout_minutes or project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES
        now = self.registry.now()
        source = dict(project.get("source") or {})
        self.record: dict[str, Any] = {
            "id": self.id,
            "arn": self.arn,
            "buildNumber": 1,
            "startTime": now,
            "currentPhase": "QUEUED",
            "buildStatus": "IN_PROGRESS",
            "sourceVersion": request.source_version or project.get("sourceVersion") or "",
            "projectName": self.project_name,
            "phases": [
                {
                    "phaseType": "SUBMITTED",
                    "phaseStatus": "SUCCEEDED",
                    "startTime": now,
                    "endTime": now,
                    "durationInSeconds": 0,
                },
                {"phaseType": "QUEUED", "startTime": now},
            ],
            "source": source,
            "artifacts": {"location": ""},
            "environment": copy.deepcopy(project.get("environment") or {}),
            "serviceRole": project.get("serviceRole", ""),
            "logs": self._log_target.record(self.log_file),
            "timeoutInMinutes": int(timeout),
            "queuedTimeoutInMinutes": project.get("queuedTimeoutInMinutes") or 480,
            "buildComplete": False,
            "initiator": request.initiator,
            "encryptionKey": project.get("encryptionKey", ""),
        }
        self._timeout_seconds = float(timeout) * self.registry.settings.minute_seconds
        self._secrets: set[str] = set()

    # -- record helpers
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record)

    def _start_phase(self, phase_type: str) -> None:
        with self.lock:
            now = self.registry.now()
            last = self.record["phases"][-1]
            if "phaseStatus" not in last:
                last.update(
                    phaseStatus="SUCCEEDED",
                    endTime=now,
                    durationInSeconds=int((now - last["startTime"]).total_seconds()),
                )
            self.record["phases"].append({"phaseType": phase_type, "startTime": now})
            self.record["currentPhase"] = phase_type

    def _end_phase(self, status: str, message: str = "") -> None:
        with self.lock:
            now = self.registry.now()
            phase = self.record["phases"][-1]
            phase.update(
                phaseStatus=status,
                endTime=now,
                durationInSeconds=int((now - phase["startTime"]).total_seconds()),
            )
            if message:
                phase["contexts"] = [
                    {"statusCode": status if status != "SUCCEEDED" else "", "message": message}
                ]

    def _finish(self, status: str) -> None:
        self._start_phase("FINALIZING")
        self._end_phase("SUCCEEDED")
        with self.lock:
            now = self.registry.now()
            self.record["phases"].append({"phaseType": "COMPLETED", "startTime": now})
            self.record.update(currentPhase="COMPLETED", buildStatus=status, endTime=now, buildComplete=True)
        self._log(f"[Container] Build finished with status {status}")
        # Like a CodeBuild container, the checkout does not outlive the build (the log does).
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.done.set()

    def _log(self, line: str) -> None:
        # Like CodeBuild, values of Parameter Store / Secrets Manager variables are masked.
        for secret in self._secrets:
            line = line.replace(secret, "***")
        with self._log_lock:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            self._cloudwatch.write(line)
        for listener in list(self.registry.listeners):
            try:
                listener(self.id, line)
            except Exception:  # a broken listener must not break the build
                LOG.exception("codebuild log listener failed")

    # -- control
    def stop(self) -> None:
        with self.lock:
            self._stop_requested = True
            process = self._process
        if process is not None:
            _kill(process)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.write_text("", encoding="utf-8")
        thread = threading.Thread(target=self._run, name=f"codebuild-{self.id}", daemon=True)
        thread.start()

    # -- the run
    def _run(self) -> None:
        started = self.registry.now()
        try:
            self._start_phase("PROVISIONING")
            env = self._environment()
            self._end_phase("SUCCEEDED")
            self._start_phase("DOWNLOAD_SOURCE")
            buildspec = self._download_source(env)
            self._end_phase("SUCCEEDED")
        except Exception as exc:
            self._log(f"[Container] {type(exc).__name__}: {exc}")
            self._end_phase("CLIENT_ERROR" if isinstance(exc, PipelineError) else "FAILED", str(exc))
            self._finish("FAILED")
            return
        env = {**buildspec.variables, **env}  # project and override variables win over the buildspec
        env.update(self._system_variables())
        self._run_phases(buildspec, env, started)

    def _remaining(self, started: datetime) -> float:
        # The injected clock decides when the build has run out of time.
        return self._timeout_seconds - (self.registry.now() - started).total_seconds()

    def _run_phases(self, buildspec: Buildspec, env: dict[str, str], started: datetime) -> None:
        src = self.workdir / "src"
        cwd = src
        final_status = "SUCCEEDED"
        failed_before_build = False
        for phase_type, _key in BUILD_PHASES:
            spec = buildspec.phases.get(phase_type)
            # CodeBuild: a failure in INSTALL or PRE_BUILD skips everything up to FINALIZING;
            # POST_BUILD runs even when BUILD failed.
            if failed_before_build:
                break
            self._start_phase(phase_type)
            if spec is None:
                self._end_phase("SUCCEEDED")
                continue
            outcome, env, cwd = self._run_phase(phase_type, spec, env, cwd, started)
            if outcome == "SUCCEEDED":
                self._end_phase("SUCCEEDED")
                continue
            if outcome in {"TIMED_OUT", "STOPPED"}:
                self._end_phase(outcome, f"build {outcome.lower().replace('_', ' ')}")
                self._export(buildspec, env)
                self._finish(outcome)
                return
            self._end_phase("FAILED", f"Error while executing command in phase {phase_type}")
            final_status = "FAILED"
            if spec.on_failure == "CONTINUE":
                continue
            if phase_type in {"INSTALL", "PRE_BUILD"}:
                failed_before_build = True
        self._start_phase("UPLOAD_ARTIFACTS")
        self._end_phase("SUCCEEDED")
        self._export(buildspec, env)
        self._finish(final_status)

    def _run_phase(
        self, phase_type: str, spec: PhaseSpec, env: dict[str, str], cwd: Path, started: datetime
    ) -> tuple[str, dict[str, str], Path]:
        self._log(f"[Container] Entering phase {phase_type}")
        env_out = self.workdir / f"{phase_type.lower()}.env"
        cwd_out = self.workdir / f"{phase_type.lower()}.cwd"
        script = self.workdir / f"{phase_type.lower()}.sh"
        script.write_text(phase_script(spec, env_out, cwd_out), encoding="utf-8")
        with self.lock:
            if self._stop_requested:
                return "STOPPED", env, cwd
            process = subprocess.Popen(
                ["bash", str(script)],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so a timeout kills all children
            )
            self._process = process
        reader = threading.Thread(target=self._pump, args=(process,), daemon=True)
        reader.start()
        outcome = ""
        while process.poll() is None:
            if self._remaining(started) <= 0:
                self._log(f"[Container] Build timed out after {self.record['timeoutInMinutes']} minutes")
                _kill(process)
                outcome = "TIMED_OUT"
                break
            if self._stop_requested:
                _kill(process)
                outcome = "STOPPED"
                break
            time.sleep(0.05)
        process.wait()
        reader.join(timeout=5)
        with self.lock:
            self._process = None
            if self._stop_requested and not outcome:
                outcome = "STOPPED"
        new_env = read_env(env_out) if env_out.exists() else None
        env_out.unlink(missing_ok=True)  # it holds the build's credentials and secrets
        new_cwd = Path(cwd_out.read_text(encoding="utf-8").strip()) if cwd_out.exists() else cwd
        if new_env is not None:
            env = new_env
        if not outcome:
            outcome = "SUCCEEDED" if process.returncode == 0 else "FAILED"
        self._log(f"[Container] Phase complete: {phase_type} State: {outcome}")
        return outcome, env, new_cwd

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            self._log(raw.decode("utf-8", errors="replace").rstrip("\n"))
        process.stdout.close()

    def _export(self, buildspec: Buildspec, env: Mapping[str, str]) -> None:
        exported = [{"name": name, "value": env.get(name, "")} for name in buildspec.exported_variables]
        with self.lock:
            self.record["exportedEnvironmentVariables"] = exported

    # -- environment and source
    def _system_variables(self) -> dict[str, str]:
        return {
            "CODEBUILD_BUILD_ID": self.id,
            "CODEBUILD_BUILD_ARN": self.arn,
            "CODEBUILD_RESOLVED_SOURCE_VERSION": self.record.get("resolvedSourceVersion", ""),
            "CODEBUILD_SOURCE_VERSION": self.record["sourceVersion"],
            "CODEBUILD_SRC_DIR": str(self.workdir / "src"),
            "CODEBUILD_INITIATOR": self.request.initiator,
            "CODEBUILD_BUILD_NUMBER": str(self.record["buildNumber"]),
        }

    def _environment(self) -> dict[str, str]:
        request = self.request
        env: dict[str, str] = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
        env["MLOPS_LOCAL_STATE"] = str(state_dir())
        project_env = (request.project.get("environment") or {}).get("environmentVariables") or []
        for variable in [*project_env, *request.environment_overrides]:
            name = str(variable.get("name", ""))
            if not name or name.startswith("CODEBUILD_"):
                continue  # overrides are validated at StartBuild; CODEBUILD_* stays ours
            env[name] = resolve_variable(variable, request.account_id, request.region)
            if variable.get("type") in {"PARAMETER_STORE", "SECRETS_MANAGER"} and env[name]:
                self._secrets.add(env[name])
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = request.region
        env.pop("AWS_PROFILE", None)
        endpoint = self.registry.emulator_endpoint()
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
            credentials = role_credentials(
                endpoint,
                str(request.project.get("serviceRole", "")),
                request.region,
                session_name=self.id.split(":")[-1][:64],
            )
            self._secrets.update(v for k, v in credentials.items() if k != "AWS_ACCESS_KEY_ID")
            env.update(credentials)
        else:
            self._log("[Container] No emulator endpoint known: the build gets no AWS credentials")
        return env

    def _download_source(self, env: Mapping[str, str]) -> Buildspec:
        source = self.record["source"]
        src = self.workdir / "src"
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(mode=0o700)  # phase environments hold credentials
        src.mkdir()
        git_env = {k: v for k, v in env.items() if k in INHERITED_VARIABLES}
        if source.get("type", "NO_SOURCE") != "NO_SOURCE":
            origin = self.registry.resolve_source_location(str(source.get("location", "")))
            version = self.record["sourceVersion"] or "HEAD"
            resolved = checkout(origin, version, src, git_env)
            with self.lock:
                self.record["resolvedSourceVersion"] = resolved
            self._log(f"[Container] Checked out {version} ({resolved}) from {origin}")
        return load_buildspec(self.request.buildspec_override or source.get("buildspec") or "", src)


def _kill(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM to the whole process group first, SIGKILL if it does not go.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            continue
