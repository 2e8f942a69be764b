"""Fault switch of the local Lambda runtime: an invocation answers an error instead of its result.

For fault-injection tests only; the function's code and configuration are never touched.
A fault either replaces the run (the code never starts: a runtime that could not start it)
or follows it (the code did its work, then its answer was lost, as when the process is
killed on its way out). A switch set by ``set`` holds for ``times`` invocations or until
``clear``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LambdaFault:
    """What one invocation answers instead of the function's result."""

    error_type: str = "Runtime.ExitError"
    message: str = "Runtime exited with error: signal: killed (injected fault)"
    after_run: bool = False  # run the code first; only its answer is replaced

    def error(self, request_id: str) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": f"RequestId: {request_id} {self.message}"}


class LambdaFaults:
    """Faults by function name, thread safe (the emulator serves invocations concurrently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, tuple[LambdaFault, int | None]] = {}
        self.hits: dict[str, int] = {}

    def set(self, function_name: str, fault: LambdaFault, times: int | None = None) -> None:
        """From now on ``function_name`` answers ``fault`` (``times`` invocations; None: until cleared)."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults[function_name] = (fault, times)

    def clear(self, function_name: str | None = None) -> None:
        """End one function's fault, or every fault."""
        with self._lock:
            if function_name is None:
                self._faults.clear()
            else:
                self._faults.pop(function_name, None)

    def take(self, function_name: str) -> LambdaFault | None:
        """The fault this invocation of ``function_name`` answers (counted in ``hits``), or None."""
        with self._lock:
            entry = self._faults.get(function_name)
            if entry is None:
                return None
            fault, times = entry
            if times is not None:
                if times <= 1:
                    del self._faults[function_name]
                else:
                    self._faults[function_name] = (fault, times - 1)
            self.hits[function_name] = self.hits.get(function_name, 0) + 1
            return fault
