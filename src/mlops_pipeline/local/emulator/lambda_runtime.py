"""Local Lambda runtime: every invocation runs the function's *deployed* code in a fresh process.

``install()`` replaces moto's ``LambdaFunction.invoke`` (the single place that the Invoke
API, the Step Functions interpreter, EventBridge, SNS and S3 deliveries all reach) with a
call into the active ``LambdaRuntime``:

* zip functions: the stored zip is extracted once per CodeSha256 under
  ``<state>/lambda/code/<sha256>/``; image functions run from the local image store
  (``ImageStore(<state>/images)``), handler = ``ImageConfig.Command[0]`` or the image's cmd.
* the process gets only the function's environment, the Lambda runtime variables, the
  emulator endpoint and credentials of the function's execution role (assumed in the
  emulator, so the keys act in the role's account) - nothing else from the parent but
  ``PATH``, ``HOME``, locale and basic ``PYTHON*`` settings.
* the process never writes bytecode (``PYTHONDONTWRITEBYTECODE=1``, whatever the emulator's
  own environment says): Lambda's task root is read-only, so a package that ships no
  ``.pyc`` is compiled on every cold start there, and so it is here; the extracted code and
  the image store's root filesystems stay exactly what was deployed.
* the invocation is answered as soon as the handler's result is written: the bootstrap then
  ends its process at once (``os._exit``), skipping the interpreter's teardown and ``atexit``
  hooks, which Lambda does not make a caller wait for either (it freezes the container).
* errors, timeouts and ``LogType=Tail`` are reported as Lambda reports them; all output is
  appended to ``<state>/logs/lambda/<function>.log``.
* a weighted alias runs the version its router picks (alias_routing.py); each invocation's
  metrics go to the emulated CloudWatch (lambda_metrics.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse

from mlops_pipeline.domain.errors import PipelineError
from mlops_pipeline.local.emulator import alias_routing, lambda_metrics, lambda_request
from mlops_pipeline.local.emulator.image_store import ImageStore
from mlops_pipeline.local.emulator.lambda_faults import LambdaFaults

LOG_TAIL_BYTES = 4096
PYTHON_RUNTIME = "python3.11"
# What a function process may inherit from the emulator's environment (everything else is dropped).
INHERITED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONHASHSEED",
)


class LambdaRuntimeError(PipelineError):
    """The local runtime cannot prepare a function (bad zip, missing image)."""


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation, in Lambda's terms."""

    request_id: str
    payload: bytes
    function_error: str | None
    logs: str
    duration_ms: float

    @property
    def log_tail_b64(self) -> str:
        tail = self.logs.encode()[-LOG_TAIL_BYTES:]
        return base64.b64encode(tail).decode()


@dataclass(frozen=True)
class _Code:
    task_root: Path
    handler: str
    image_env: Mapping[str, str]


class LambdaRuntime:
    """Runs moto Lambda functions as subprocesses; one per emulator.

    ``role_credentials(role_arn, session_name)`` returns env-style keys acting as that role.
    """

    def __init__(
        self,
        state_dir: Path,
        endpoint_url: str,
        region: str,
        role_credentials: Any,
        python: str = sys.executable,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.endpoint_url = endpoint_url
        self.region = region
        self.python = python
        self._role_credentials = role_credentials
        self._extract_lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._procs_lock = threading.Lock()
        self._async: list[threading.Thread] = []
        self.faults = LambdaFaults()  # fault injection (tests): lambda_faults.py
        self.router = alias_routing.AliasRouter()  # weighted aliases; tests seed it

    # -- code ------------------------------------------------------------------------------------

    def _zip_root(self, fn: LambdaFunction) -> Path:
        code: bytes = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise LambdaRuntimeError(f"function {fn.function_name} has no code package")
        sha = hashlib.sha256(code).hexdigest()
        root = self.state_dir / "lambda" / "code" / sha
        with self._extract_lock:
            if root.is_dir():
                return root
            root.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=root.parent))
            try:
                with tempfile.TemporaryFile() as buffer:
                    buffer.write(code)
                    buffer.seek(0)
                    with zipfile.ZipFile(buffer) as archive:
                        for member in archive.namelist():
                            target = (staging / member).resolve()
                            if not target.is_relative_to(staging.resolve()):
                                raise LambdaRuntimeError(f"zip member {member!r} escapes the task root")
                        archive.extractall(staging)
                try:
                    staging.rename(root)
                except OSError:
                    if not root.is_dir():
                        raise
                    shutil.rmtree(staging, ignore_errors=True)  # another process extracted it first
            except zipfile.BadZipFile as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise LambdaRuntimeError(f"code of {fn.function_name} is not a zip file: {exc}") from exc
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return root

    def _code(self, fn: LambdaFunction) -> _Code:
        if fn.package_type == "Image":
            image_uri = fn.code.get("ImageUri")
            if not image_uri:
                raise LambdaRuntimeError(f"image function {fn.function_name} has no ImageUri")
            image = ImageStore(self.state_dir / "images").get(image_uri)
            command = list(fn.image_config.cmd or []) or image.cmd
            task_root = image.task_root
            if fn.image_config.working_directory:
                task_root = image.rootfs / str(fn.image_config.working_directory).lstrip("/")
            return _Code(task_root=task_root, handler=command[0], image_env=image.env)
        if not fn.handler:
            raise LambdaRuntimeError(f"zip function {fn.function_name} has no Handler")
        return _Code(task_root=self._zip_root(fn), handler=fn.handler, image_env={})

    # -- environment -----------------------------------------------------------------------------

    def environment(self, fn: LambdaFunction, code: _Code, request_id: str) -> dict[str, str]:
        """The process environment of one invocation."""
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update(code.image_env)
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{fn.version}]{request_id.replace('-', '')}"
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time or PYTHON_RUNTIME}",
                "LAMBDA_TASK_ROOT": str(code.task_root),
                "LAMBDA_RUNTIME_DIR": str(Path(sys.prefix)),
                "_HANDLER": code.handler,
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "MLOPS_LOCAL_STATE": str(self.state_dir),
                "TZ": ":UTC",
                # /var/task is read-only on Lambda: no .pyc is ever cached next to the code.
                "PYTHONDONTWRITEBYTECODE": "1",
                # No shared config or credentials files: the role's keys below are the only identity.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        env.update(self._role_credentials(fn.role, fn.function_name))
        return env

    # -- invoke ----------------------------------------------------------------------------------

    def invoke(self, fn: LambdaFunction, payload: bytes, invoked_arn: str | None = None) -> Invocation:
        """Run one invocation synchronously, record its metrics, return its outcome (or the fault's error)."""
        fault = self.faults.take(fn.function_name)
        if fault is None:
            result = self._run(fn, payload, invoked_arn)
        else:
            started = time.monotonic()
            logs = self._run(fn, payload, invoked_arn).logs if fault.after_run else ""
            request_id = str(uuid.uuid4())
            error = fault.error(request_id)
            result = self._finish(fn, request_id, started, error_payload=error, logs=f"{logs}{error}\n")
        lambda_metrics.record(
            fn.account_id, fn.region, fn.function_name, invoked_arn, str(fn.version), result
        )
        return result

    def _run(self, fn: LambdaFunction, payload: bytes, invoked_arn: str | None) -> Invocation:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        try:
            code = self._code(fn)
        except Exception as exc:
            error = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(exc), "stackTrace": []}
            return self._finish(fn, request_id, started, error_payload=error, logs=f"{exc}\n")
        env = self.environment(fn, code, request_id)
        timeout = float(fn.timeout or 3)
        workdir = Path(tempfile.mkdtemp(prefix="invoke-", dir=self._run_dir()))
        result_file = workdir / "result.json"
        deadline_ms = int(time.time() * 1000 + timeout * 1000)
        args = [
            self.python,
            "-P",  # no cwd on sys.path at start: a package shipping mlops_pipeline must not hide the bootstrap
            "-m",
            "mlops_pipeline.local.emulator.lambda_bootstrap",
            "--handler",
            code.handler,
            "--result",
            str(result_file),
            "--request-id",
            request_id,
            "--invoked-arn",
            invoked_arn or fn.function_arn,
            "--deadline-ms",
            str(deadline_ms),
        ]
        try:
            proc = subprocess.Popen(
                args,
                cwd=code.task_root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a timeout kills the whole tree
            )
            with self._procs_lock:
                self._procs[proc.pid] = proc
            try:
                out, _ = proc.communicate(payload, timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                try:
                    out, _ = proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipe
                    out = b""
                    proc.kill()
                    proc.wait()
                timed_out = True
            finally:
                with self._procs_lock:
                    self._procs.pop(proc.pid, None)
            logs = out.decode(errors="replace")
            if timed_out:
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                message = f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds"
                error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
                return self._finish(fn, request_id, started, error_payload=error, logs=logs + message + "\n")
            if not result_file.is_file():
                message = (
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status {proc.returncode}"
                )
                error = {"errorType": "Runtime.ExitError", "errorMessage": message}
                return self._finish(fn, request_id, started, error_payload=error, logs=logs)
            outcome = json.loads(result_file.read_text())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if outcome.get("ok"):
            body = json.dumps(outcome.get("payload")).encode()
            return self._finish(fn, request_id, started, payload=body, logs=logs)
        return self._finish(fn, request_id, started, error_payload=outcome["error"], logs=logs)

    def invoke_async(self, fn: LambdaFunction, payload: bytes, invoked_arn: str | None = None) -> str:
        """InvocationType=Event: run in the background, like Lambda's internal queue."""
        request_id = str(uuid.uuid4())
        thread = threading.Thread(
            target=self.invoke,
            args=(fn, payload, invoked_arn),
            name=f"lambda-event-{request_id}",
            daemon=True,
        )
        with self._procs_lock:
            self._async = [t for t in self._async if t.is_alive()] + [thread]
        thread.start()
        return request_id

    def wait_async(self, timeout: float = 30.0) -> bool:
        """Wait until every Event invocation started so far has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        for thread in list(self._async):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._async)

    def close(self, grace_seconds: float = 5.0) -> None:
        """Kill running function processes and wait for background invocations."""
        with self._procs_lock:
            procs = list(self._procs.values())
        for proc in procs:
            _kill_group(proc)
        deadline = time.monotonic() + grace_seconds
        for thread in self._async:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- helpers ---------------------------------------------------------------------------------

    def _run_dir(self) -> Path:
        path = self.state_dir / "lambda" / "run"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _finish(
        self,
        fn: LambdaFunction,
        request_id: str,
        started: float,
        *,
        logs: str,
        payload: bytes | None = None,
        error_payload: Mapping[str, Any] | None = None,
    ) -> Invocation:
        duration_ms = (time.monotonic() - started) * 1000
        lines = (
            f"START RequestId: {request_id} Version: {fn.version}\n{logs}"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {fn.memory_size} MB\n"
        )
        self._append_log(fn.function_name, lines)
        if error_payload is not None:
            return Invocation(request_id, json.dumps(error_payload).encode(), "Unhandled", lines, duration_ms)
        return Invocation(request_id, payload or b"null", None, lines, duration_ms)

    def _append_log(self, function_name: str, text: str) -> None:
        log_dir = self.state_dir / "logs" / "lambda"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{function_name}.log").open("a", encoding="utf-8") as handle:
            handle.write(text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# -- moto integration ------------------------------------------------------------------------------

_active: LambdaRuntime | None = None
_install_lock = threading.Lock()
_original_invoke: Any = None


def activate(runtime: LambdaRuntime | None) -> None:
    """Make ``runtime`` the one that moto's invokes go to (None: back to moto's own)."""
    global _active
    _active = runtime


def active() -> LambdaRuntime | None:
    return _active


def install() -> None:
    """Route moto's ``LambdaFunction.invoke`` to the active runtime (idempotent)."""
    global _original_invoke
    with _install_lock:
        if _original_invoke is not None:
            return
        _original_invoke = LambdaFunction.invoke
        LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
        alias_routing.install()
        lambda_metrics.install()
        original_backend_invoke = LambdaBackend.invoke

        def backend_invoke(
            self: LambdaBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> Any:
            # moto reads "qualifier" but the query parameter is "Qualifier": use what the request said.
            qualifier = qualifier or getattr(_requested, "query_qualifier", None)
            # Remember the name the caller used: the context's invoked_function_arn names the alias.
            _requested.arn = arn = lambda_request.invoked_arn(
                self.account_id, self.region_name, function_name, qualifier
            )
            routed = _active.router.route(self, arn) if _active is not None else None
            if routed is not None:  # a weighted alias: run the version picked (the context keeps the alias)
                function_name, qualifier = arn.split(":")[6], routed
            try:
                return original_backend_invoke(
                    self, function_name, qualifier, body, headers, response_headers
                )
            finally:
                _requested.arn = None

        LambdaBackend.invoke = backend_invoke  # type: ignore[method-assign]
        original_response_invoke = LambdaResponse.invoke

        def response_invoke(self: LambdaResponse) -> Any:
            values = self.querystring.get("Qualifier") or [None]
            _requested.query_qualifier = values[0]
            try:
                return original_response_invoke(self)
            finally:
                _requested.query_qualifier = None

        LambdaResponse.invoke = response_invoke  # type: ignore[method-assign]
        original_set_code = LambdaFunction._set_function_code

        def set_function_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
            original_set_code(self, updated_spec)
            _use_image_digest(self, updated_spec)

        LambdaFunction._set_function_code = set_function_code  # type: ignore[method-assign]


def _use_image_digest(fn: LambdaFunction, spec: Mapping[str, Any]) -> None:
    """CodeSha256 of an image function = the pushed image's digest, as on AWS.

    moto's stub hashes the URI string; the local image store knows the real digest. An image
    that is not in the store keeps moto's value (tests may create functions without pushing).
    """
    runtime = _active
    image_uri = spec.get("ImageUri")
    if runtime is None or not image_uri or spec.get("DryRun"):
        return
    store = ImageStore(runtime.state_dir / "images")
    if store.exists(image_uri):
        fn.code_sha_256 = store.get(image_uri).digest.removeprefix("sha256:")


_requested = threading.local()


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    runtime = _active
    if runtime is None:
        return _original_invoke(self, body, request_headers, response_headers)
    if isinstance(body, str):
        payload = body.encode()
    elif isinstance(body, bytes | bytearray):
        payload = bytes(body)
    else:
        payload = json.dumps(body).encode()
    invocation_type = lambda_request.header(request_headers, "x-amz-invocation-type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    invoked_arn = getattr(_requested, "arn", None)
    if invoked_arn and invoked_arn.split(":")[6] != self.function_name:
        invoked_arn = None
    if invocation_type == "Event":
        runtime.invoke_async(self, payload, invoked_arn)
        return b""
    result = runtime.invoke(self, payload, invoked_arn)
    response_headers["x-amz-executed-version"] = str(self.version)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    # moto's response drops this unless the request asked for LogType=Tail.
    response_headers["x-amz-log-result"] = result.log_tail_b64
    return result.payload
