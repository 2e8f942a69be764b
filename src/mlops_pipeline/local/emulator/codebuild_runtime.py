"""Local CodeBuild runtime: moto's ``StartBuild`` really runs the project's buildspec.

moto only records a build and reports it SUCCEEDED on the first ``BatchGetBuilds``. Here a
build is a background thread that clones the source at ``sourceVersion`` into a clean folder
and runs the buildspec phases (install, pre_build, build, post_build) with bash, one shell per
phase; the environment (``cd``, ``export``) is carried from one phase to the next the way
CodeBuild does, and ``env.exported-variables`` are read after the last phase.
``BatchGetBuilds`` then reports what really happened (status, current phase, phases, times,
exported variables); ``timeoutInMinutes`` is enforced and ``StopBuild`` kills the shell.

It also adds the ``arn:aws:states:::codebuild:startBuild`` (and ``.sync``) integration to
moto's Step Functions interpreter.

Logs: ``<state dir>/logs/codebuild/<build id>.log`` (state dir: ``MLOPS_LOCAL_STATE`` or
``./.mlops-local``), plus any listener added with :func:`add_log_listener`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import yaml

from mlops_pipeline.domain.errors import PipelineError
from mlops_pipeline.local.emulator.image_store import state_dir
from mlops_pipeline.ports import Clock, SystemClock

LOG = logging.getLogger(__name__)

#: The buildspec phases in the order CodeBuild runs them, with their buildspec keys.
BUILD_PHASES: tuple[tuple[str, str], ...] = (
    ("INSTALL", "install"),
    ("PRE_BUILD", "pre_build"),
    ("BUILD", "build"),
    ("POST_BUILD", "post_build"),
)
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
DEFAULT_TIMEOUT_MINUTES = 60
# Variables bash sets itself; carrying them to the next phase would be wrong.
_SHELL_OWN_VARIABLES = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})
# What the build inherits from the emulator process; everything else comes from the project.
_INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_CODECOMMIT_URL = re.compile(
    r"^https://git-codecommit\.[a-z0-9-]+\.amazonaws\.com/v1/repos/(?P<name>[^/]+)/?$"
)

LogListener = Callable[[str, str], None]


class BuildspecError(PipelineError):
    """The buildspec is missing or not a valid buildspec document."""


class SourceNotFoundError(PipelineError):
    """The project's source location is not a local repository the runtime can clone."""


class BuildNotFoundError(PipelineError):
    """No local build with that id."""


class InvalidBuildRequestError(PipelineError):
    """StartBuild parameters CodeBuild would reject (nothing is started)."""


_VARIABLE_TYPES = frozenset({"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"})


def validate_overrides(overrides: Sequence[Mapping[str, Any]]) -> None:
    """Reject environment overrides CodeBuild rejects: no name, reserved name, unknown type."""
    for variable in overrides:
        name = str(variable.get("name") or "")
        if not name:
            raise InvalidBuildRequestError("environment variable override without a name")
        if name.startswith("CODEBUILD_"):
            raise InvalidBuildRequestError(
                f"environment variable names starting with CODEBUILD_ are reserved: {name}"
            )
        kind = str(variable.get("type") or "PLAINTEXT")
        if kind not in _VARIABLE_TYPES:
            raise InvalidBuildRequestError(
                f"invalid type {kind!r} for {name}; valid: {', '.join(sorted(_VARIABLE_TYPES))}"
            )


# --------------------------------------------------------------------------- buildspec


@dataclass(frozen=True)
class PhaseSpec:
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str = "ABORT"


@dataclass(frozen=True)
class Buildspec:
    variables: Mapping[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    phases: Mapping[str, PhaseSpec] = field(default_factory=dict)
    shell: str = "bash"


def _as_commands(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(c, str | int | float) for c in value):
        return tuple(str(c) for c in value)
    raise BuildspecError(f"{where} must be a list of commands")


def parse_buildspec(text: str) -> Buildspec:
    """Parse a buildspec YAML document (version 0.2); BuildspecError if it is not one."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildspecError(f"buildspec is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "phases" not in doc:
        raise BuildspecError("buildspec must be a mapping with 'phases'")
    env = doc.get("env") or {}
    if not isinstance(env, dict):
        raise BuildspecError("buildspec 'env' must be a mapping")
    variables = env.get("variables") or {}
    if not isinstance(variables, dict):
        raise BuildspecError("buildspec 'env.variables' must be a mapping")
    exported = env.get("exported-variables") or []
    if not isinstance(exported, list):
        raise BuildspecError("buildspec 'env.exported-variables' must be a list")
    raw_phases = doc.get("phases") or {}
    if not isinstance(raw_phases, dict):
        raise BuildspecError("buildspec 'phases' must be a mapping")
    known = {key for _, key in BUILD_PHASES}
    unknown = set(raw_phases) - known
    if unknown:
        raise BuildspecError(f"unknown buildspec phases: {sorted(unknown)}; valid: {sorted(known)}")
    phases: dict[str, PhaseSpec] = {}
    for phase_type, key in BUILD_PHASES:
        raw = raw_phases.get(key)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise BuildspecError(f"phase {key} must be a mapping")
        on_failure = str(raw.get("on-failure", "ABORT")).upper()
        if on_failure not in {"ABORT", "CONTINUE"}:
            raise BuildspecError(f"phase {key}: on-failure must be ABORT or CONTINUE")
        phases[phase_type] = PhaseSpec(
            commands=_as_commands(raw.get("commands"), f"phases.{key}.commands"),
            finally_commands=_as_commands(raw.get("finally"), f"phases.{key}.finally"),
            on_failure=on_failure,
        )
    return Buildspec(
        variables={str(k): "" if v is None else str(v) for k, v in variables.items()},
        exported_variables=tuple(str(v) for v in exported),
        phases=phases,
        shell=str(env.get("shell", "bash")),
    )


def phase_script(spec: PhaseSpec, env_out: Path, cwd_out: Path) -> str:
    """The bash script of one phase: commands stop at the first failure, ``finally`` always runs.

    On exit the shell writes its environment and working directory so the next phase starts
    where this one ended.
    """
    lines = [
        f"__mlops_dump() {{ env -0 > {shlex.quote(str(env_out))}; pwd > {shlex.quote(str(cwd_out))}; }}",
        "trap __mlops_dump EXIT",
        "__mlops_status=0",
    ]

    def guarded(command: str, guard: str) -> list[str]:
        quoted = shlex.quote(command)
        return [
            f"if [ {guard} ]; then",
            f"printf '[Container] Running command %s\\n' {quoted}",
            command,
            "__mlops_rc=$?",
            'if [ "$__mlops_rc" -ne 0 ]; then',
            f"printf '[Container] Command did not exit successfully %s exit status %s\\n' {quoted} "
            '"$__mlops_rc"',
            '__mlops_status="$__mlops_rc"',
            "fi",
            "fi",
        ]

    for command in spec.commands:
        lines += guarded(command, '"$__mlops_status" -eq 0')
    if spec.finally_commands:
        lines.append("__mlops_finally_status=0")
        for command in spec.finally_commands:
            body = guarded(command, '"$__mlops_finally_status" -eq 0')
            # A failing finally command fails the phase too.
            body = [
                line.replace('__mlops_status="$__mlops_rc"', '__mlops_finally_status="$__mlops_rc"')
                for line in body
            ]
            lines += body
        lines.append('if [ "$__mlops_status" -eq 0 ]; then __mlops_status="$__mlops_finally_status"; fi')
    lines.append('exit "$__mlops_status"')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- settings


@dataclass
class _Settings:
    endpoint_url: str | None = None
    learned_endpoint_url: str | None = None
    minute_seconds: float = 60.0
    clock: Clock = field(default_factory=SystemClock)
    listeners: list[LogListener] = field(default_factory=list)
    repositories: dict[str, Path] = field(default_factory=dict)


_SETTINGS = _Settings()
_BUILDS: dict[str, LocalBuild] = {}
_BUILDS_LOCK = threading.Lock()


def configure(
    *,
    endpoint_url: str | None = None,
    minute_seconds: float | None = None,
    clock: Clock | None = None,
) -> None:
    """Set the emulator URL builds talk to, the length of a timeout minute and the clock.

    Without ``endpoint_url``: ``MOTO_PORT`` (set by the Emulator), else the Host of the latest
    CodeBuild request.
    ``minute_seconds`` (default 60) lets tests exercise ``timeoutInMinutes`` quickly.
    """
    if endpoint_url is not None:
        _SETTINGS.endpoint_url = endpoint_url.rstrip("/")
    if minute_seconds is not None:
        if minute_seconds <= 0:
            raise ValueError("minute_seconds must be positive")
        _SETTINGS.minute_seconds = minute_seconds
    if clock is not None:
        _SETTINGS.clock = clock


def add_log_listener(listener: LogListener) -> None:
    """Call ``listener(build_id, line)`` for every log line of every build."""
    _SETTINGS.listeners.append(listener)


def remove_log_listener(listener: LogListener) -> None:
    with contextlib.suppress(ValueError):
        _SETTINGS.listeners.remove(listener)


def register_repository(name: str, path: str | Path) -> None:
    """Map the CodeCommit repository ``name`` (its clone URL) to a local git repository path."""
    _SETTINGS.repositories[name] = Path(path).resolve()


def resolve_source_location(location: str) -> str:
    """A git-clonable local path for a project source location; SourceNotFoundError otherwise."""
    match = _CODECOMMIT_URL.match(location)
    if match:
        name = match.group("name")
        if name not in _SETTINGS.repositories:
            raise SourceNotFoundError(
                f"CodeCommit repository {name!r} is not registered locally (register_repository)"
            )
        return str(_SETTINGS.repositories[name])
    if location.startswith("file://"):
        return urlparse(location).path
    if Path(location).exists():
        return str(Path(location).resolve())
    raise SourceNotFoundError(f"source location {location!r} is neither a local path nor a registered repo")


def emulator_endpoint() -> str | None:
    """The emulator URL: configured, else moto's ``MOTO_PORT``, else learnt from a CodeBuild request."""
    if _SETTINGS.endpoint_url:
        return _SETTINGS.endpoint_url
    port = os.environ.get("MOTO_PORT")  # set by the Emulator for moto's own URL building
    if port:
        return f"http://127.0.0.1:{port}"
    return _SETTINGS.learned_endpoint_url


def log_path(build_id: str) -> Path:
    """Where the log of a build is written."""
    return state_dir() / "logs" / "codebuild" / f"{build_id}.log"


# --------------------------------------------------------------------------- the build


def _now() -> datetime:
    return _SETTINGS.clock.now()


@dataclass
class BuildRequest:
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

    def __init__(self, request: BuildRequest) -> None:
        project = request.project
        self.request = request
        self.project_name: str = project["name"]
        self.id = f"{self.project_name}:{uuid.uuid4()}"
        self.arn = f"arn:aws:codebuild:{request.region}:{request.account_id}:build/{self.id}"
        self.lock = threading.RLock()
        self.done = threading.Event()
        self._stop_requested = False
        self._process: subprocess.Popen[bytes] | None = None
        self.workdir = state_dir() / "codebuild" / self.id.replace(":", "_")
        self.log_file = log_path(self.id)
        timeout = request.timeout_minutes or project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES
        now = _now()
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
            "logs": {"groupName": "local", "streamName": self.id, "deepLink": self.log_file.as_uri()},
            "timeoutInMinutes": int(timeout),
            "queuedTimeoutInMinutes": project.get("queuedTimeoutInMinutes") or 480,
            "buildComplete": False,
            "initiator": request.initiator,
            "encryptionKey": project.get("encryptionKey", ""),
        }
        self._timeout_seconds = float(timeout) * _SETTINGS.minute_seconds
        self._secrets: set[str] = set()

    # -- record helpers
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record)

    def _start_phase(self, phase_type: str) -> None:
        with self.lock:
            now = _now()
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
            now = _now()
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
            now = _now()
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
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        for listener in list(_SETTINGS.listeners):
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
        started = _now()
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
        return self._timeout_seconds - (_now() - started).total_seconds()

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
        new_env = _read_env(env_out) if env_out.exists() else None
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
        env: dict[str, str] = {k: os.environ[k] for k in _INHERITED_VARIABLES if k in os.environ}
        env["MLOPS_LOCAL_STATE"] = str(state_dir())
        project_env = (self.request.project.get("environment") or {}).get("environmentVariables") or []
        for variable in [*project_env, *self.request.environment_overrides]:
            name = str(variable.get("name", ""))
            if not name or name.startswith("CODEBUILD_"):
                continue  # overrides are validated at StartBuild; CODEBUILD_* stays ours
            env[name] = self._resolve_variable(variable)
            if variable.get("type") in {"PARAMETER_STORE", "SECRETS_MANAGER"} and env[name]:
                self._secrets.add(env[name])
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = self.request.region
        env.pop("AWS_PROFILE", None)
        endpoint = emulator_endpoint()
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
            credentials = self._role_credentials(endpoint)
            self._secrets.update(v for k, v in credentials.items() if k != "AWS_ACCESS_KEY_ID")
            env.update(credentials)
        else:
            self._log("[Container] No emulator endpoint known: the build gets no AWS credentials")
        return env

    def _resolve_variable(self, variable: Mapping[str, Any]) -> str:
        value = str(variable.get("value", ""))
        kind = str(variable.get("type", "PLAINTEXT"))
        if kind == "PARAMETER_STORE":
            from moto.ssm.models import ssm_backends

            parameter = ssm_backends[self.request.account_id][self.request.region].get_parameter(value)
            return str(parameter.value) if parameter is not None else ""
        if kind == "SECRETS_MANAGER":
            from moto.secretsmanager.models import secretsmanager_backends

            # <secret id>[:<json key>[:<version stage>[:<version id>]]]; ARNs contain ':' themselves.
            secret_id, json_key = value, ""
            if value.startswith("arn:"):
                parts = value.split(":")
                secret_id, json_key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
            elif ":" in value:
                secret_id, json_key = value.split(":", 2)[:2]
            backend = secretsmanager_backends[self.request.account_id][self.request.region]
            secret = backend.get_secret_value(secret_id, None, None)  # type: ignore[arg-type]
            text = str(secret.get("SecretString", ""))
            return str(json.loads(text)[json_key]) if json_key else text
        return value

    def _role_credentials(self, endpoint: str) -> dict[str, str]:
        import boto3

        role_arn = str(self.request.project.get("serviceRole", ""))
        if not role_arn.startswith("arn:"):
            return {}
        sts = boto3.client(
            "sts",
            endpoint_url=endpoint,
            region_name=self.request.region,
            aws_access_key_id="codebuild-local",
            aws_secret_access_key="codebuild-local",  # noqa: S106 - the emulator accepts any key
        )
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=self.id.split(":")[-1][:64])["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }

    def _download_source(self, env: Mapping[str, str]) -> Buildspec:
        source = self.record["source"]
        src = self.workdir / "src"
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(mode=0o700)  # phase environments hold credentials
        src.mkdir()
        git_env = {k: v for k, v in env.items() if k in _INHERITED_VARIABLES}
        if source.get("type", "NO_SOURCE") != "NO_SOURCE":
            origin = resolve_source_location(str(source.get("location", "")))
            self._git(["clone", "--quiet", "--no-checkout", origin, str(src)], git_env, self.workdir)
            version = self.record["sourceVersion"] or "HEAD"
            self._git(
                ["checkout", "--quiet", "--detach", self._commit_of(version, git_env, src)], git_env, src
            )
            resolved = self._git(["rev-parse", "HEAD"], git_env, src).strip()
            with self.lock:
                self.record["resolvedSourceVersion"] = resolved
            self._log(f"[Container] Checked out {version} ({resolved}) from {origin}")
        text = self.request.buildspec_override or source.get("buildspec") or ""
        if text and "\n" not in text and not text.lstrip().startswith(("version", "phases")):
            text = self._read_buildspec_file(src, text)  # a path relative to the source root
        if not text:
            text = self._read_buildspec_file(src, "buildspec.yml")
        return parse_buildspec(text)

    def _commit_of(self, version: str, env: Mapping[str, str], src: Path) -> str:
        # sourceVersion may be a commit, a branch name or refs/heads/<branch>; in a fresh clone
        # branches other than the default exist only as origin/<branch>.
        branch = version.removeprefix("refs/heads/")
        for candidate in dict.fromkeys((version, f"origin/{branch}", branch)):
            try:
                return self._git(
                    ["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], env, src
                ).strip()
            except SourceNotFoundError:
                continue
        raise SourceNotFoundError(f"source version {version!r} not found in the repository")

    @staticmethod
    def _read_buildspec_file(src: Path, name: str) -> str:
        path = (src / name).resolve()
        if not path.is_relative_to(src.resolve()) or not path.is_file():
            raise BuildspecError(f"buildspec file {name!r} not found in the source")
        return path.read_text(encoding="utf-8")

    def _git(self, args: list[str], env: Mapping[str, str], cwd: Path) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**env, "GIT_TERMINAL_PROMPT": "0"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise SourceNotFoundError(f"git {args[0]} failed: {result.stderr.strip()}")
        return result.stdout


def _kill(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            continue


def _read_env(path: Path) -> dict[str, str] | None:
    data = path.read_bytes()
    if not data:
        return None
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        if b"=" not in item:
            continue
        name, _, value = item.decode("utf-8", errors="replace").partition("=")
        if name not in _SHELL_OWN_VARIABLES and not name.startswith("BASH_FUNC_"):
            env[name] = value
    return env


# --------------------------------------------------------------------------- API level


def start_build(request: BuildRequest) -> dict[str, Any]:
    """Start a local build; returns its first API record (camelCase, datetimes)."""
    build = LocalBuild(request)
    with _BUILDS_LOCK:
        _BUILDS[build.id] = build
    build.start()
    return build.snapshot()


def get_build(build_id: str) -> dict[str, Any] | None:
    """The current API record of a local build, or None."""
    with _BUILDS_LOCK:
        build = _BUILDS.get(build_id)
    return build.snapshot() if build is not None else None


def stop_build(build_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Stop a running build (kill its shell); returns the final record."""
    with _BUILDS_LOCK:
        build = _BUILDS.get(build_id)
    if build is None:
        raise BuildNotFoundError(build_id)
    build.stop()
    build.done.wait(timeout)
    return build.snapshot()


def stop_all_builds(timeout: float = 10.0) -> None:
    """Stop every running build (the emulator calls this when it stops)."""
    with _BUILDS_LOCK:
        running = [b for b in _BUILDS.values() if not b.done.is_set()]
    for build in running:
        build.stop()
    for build in running:
        build.done.wait(timeout)


def wait_for_build(build_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Block until the build is finished (or ``timeout``); returns its record."""
    with _BUILDS_LOCK:
        build = _BUILDS.get(build_id)
    if build is None:
        raise BuildNotFoundError(build_id)
    build.done.wait(timeout)
    return build.snapshot()


def to_sfn_shape(value: Any) -> Any:
    """An API record in the shape Step Functions outputs: PascalCase keys, epoch-millis times."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: to_sfn_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_sfn_shape(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


# --------------------------------------------------------------------------- moto patches

_INSTALLED = False


def _learn_endpoint(response: Any) -> None:
    # The latest CodeBuild request tells where the server listens (a restarted emulator moves).
    host = (getattr(response, "headers", None) or {}).get("Host")
    if host:
        _SETTINGS.learned_endpoint_url = f"http://{host}"


def install() -> None:
    """Patch moto in-process: StartBuild/BatchGetBuilds/StopBuild run real builds; SFN integration."""
    global _INSTALLED
    if _INSTALLED:
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
    _install_sfn_integration()
    _INSTALLED = True


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


def _install_sfn_integration() -> None:
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
