"""One Lambda invocation in a fresh interpreter: the local stand-in for the Lambda runtime.

Started by ``mlops_pipeline.local.emulator.lambda_runtime`` as
``python -m mlops_pipeline.local.emulator.lambda_bootstrap --handler mod.fn --result FILE ...`` with
the task root as working directory. Reads the event (JSON) from stdin, calls the handler
with a context object and writes ``{"ok": true, "payload": ...}`` or
``{"ok": false, "error": {"errorType", "errorMessage", "stackTrace"}}`` to the result file
(never stdout: user code prints there).

Then the process ends at once (``os._exit``) with its output flushed: the runtime answers when
the process is gone, and Lambda answers when the handler returns - it freezes the container
instead of tearing the interpreter down, so no caller waits for ``atexit`` hooks, finalisers
or the unloading of boto3 and friends (hundreds of ms on a busy machine).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class LambdaContext:
    """The attributes of the Lambda Python runtime's context object that handlers use."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    stack: list[str] = []
    if exc is not None:
        # Drop this module's own frames: Lambda shows only the user's frames.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        stack = traceback.format_list(frames)
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack}


def _prefer_task_root(task_root: str) -> None:
    """Put the task root first on sys.path and forget packages it ships itself.

    The bootstrap is imported from the venv, which also holds ``mlops_pipeline``; a function
    package that ships its own ``mlops_pipeline`` must run *that* code, not the venv's.
    """
    sys.path[:] = [task_root] + [p for p in sys.path if p not in ("", task_root, os.getcwd())]
    shipped = {p.name.removesuffix(".py") for p in Path(task_root).iterdir()}
    for name in list(sys.modules):
        top = name.split(".", 1)[0]
        if top in shipped and name != __name__:
            del sys.modules[name]
    importlib.invalidate_caches()


def _load_handler(handler: str) -> Callable[[Any, LambdaContext], Any] | dict[str, Any]:
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        return _error("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        return _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
    function = getattr(module, function_name, None)
    if not callable(function):
        return _error(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return function


def run(handler: str, event: Any, context: LambdaContext) -> dict[str, Any]:
    """Call the handler; the outcome as written to the result file."""
    function = _load_handler(handler)
    if isinstance(function, dict):
        return {"ok": False, "error": function}
    try:
        result = function(event, context)
    except Exception as exc:
        return {"ok": False, "error": _error(type(exc).__name__, str(exc), exc)}
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return {"ok": False, "error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")}
    return {"ok": True, "payload": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--invoked-arn", required=True)
    parser.add_argument("--deadline-ms", required=True, type=int)
    args = parser.parse_args(argv)

    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _prefer_task_root(task_root)
    raw = sys.stdin.buffer.read()
    try:
        event = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        outcome: dict[str, Any] = {"ok": False, "error": _error("Runtime.UnmarshalError", str(exc))}
    else:
        context = LambdaContext(args.request_id, args.invoked_arn, args.deadline_ms)
        outcome = run(args.handler, event, context)
    if not outcome["ok"]:
        # Lambda logs the error record too; the log tail is how people read it.
        print(json.dumps(outcome["error"]), file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(outcome))
    tmp.replace(args.result)
    return 0


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, after flushing every output."""
    logging = sys.modules.get("logging")
    if logging is not None:  # loaded by the handler: flush its handlers, as its atexit hook would
        with contextlib.suppress(Exception):
            logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
