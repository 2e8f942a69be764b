"""The runtime's process-wide state in one object: settings, builds, log listeners, repositories.

moto's backends are process-global, so the builds they start are too. Everything the runtime
keeps between calls lives in one :class:`CodeBuildRegistry`, ``REGISTRY``, which tests put back
to its initial state with :meth:`CodeBuildRegistry.reset`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from mlops_pipeline.local.emulator.codebuild.errors import SourceNotFoundError
from mlops_pipeline.ports import Clock, SystemClock

if TYPE_CHECKING:
    from mlops_pipeline.local.emulator.codebuild.build import LocalBuild

#: ``listener(build_id, line)``, called for every log line of every build.
LogListener = Callable[[str, str], None]

_CODECOMMIT_URL = re.compile(
    r"^https://git-codecommit\.[a-z0-9-]+\.amazonaws\.com/v1/repos/(?P<name>[^/]+)/?$"
)


@dataclass
class Settings:
    """What :meth:`CodeBuildRegistry.configure` sets, and the endpoint learnt from requests."""

    endpoint_url: str | None = None
    learned_endpoint_url: str | None = None
    minute_seconds: float = 60.0
    clock: Clock = field(default_factory=SystemClock)


class CodeBuildRegistry:
    """Settings, builds, log listeners and registered repositories of the local CodeBuild runtime."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards ``builds``: API calls and build threads race on it
        # Whether moto is patched. That is a fact about moto's classes, not state of ours, so
        # reset() keeps it: forgetting it would patch moto a second time, on top of itself.
        self.installed = False
        self.settings = Settings()
        self.builds: dict[str, LocalBuild] = {}
        self.listeners: list[LogListener] = []
        self.repositories: dict[str, Path] = {}

    def configure(
        self,
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
            self.settings.endpoint_url = endpoint_url.rstrip("/")
        if minute_seconds is not None:
            if minute_seconds <= 0:
                raise ValueError("minute_seconds must be positive")
            self.settings.minute_seconds = minute_seconds
        if clock is not None:
            self.settings.clock = clock

    def now(self) -> datetime:
        """The configured clock's time (build records and timeouts use it)."""
        return self.settings.clock.now()

    def add_log_listener(self, listener: LogListener) -> None:
        """Call ``listener(build_id, line)`` for every log line of every build."""
        self.listeners.append(listener)

    def remove_log_listener(self, listener: LogListener) -> None:
        """Stop calling ``listener`` (no error if it was not added)."""
        with contextlib.suppress(ValueError):
            self.listeners.remove(listener)

    def register_repository(self, name: str, path: str | Path) -> None:
        """Map the CodeCommit repository ``name`` (its clone URL) to a local git repository path."""
        self.repositories[name] = Path(path).resolve()

    def resolve_source_location(self, location: str) -> str:
        """A git-clonable local path for a project source location; SourceNotFoundError otherwise."""
        match = _CODECOMMIT_URL.match(location)
        if match:
            name = match.group("name")
            if name not in self.repositories:
                raise SourceNotFoundError(
                    f"CodeCommit repository {name!r} is not registered locally (register_repository)"
                )
            return str(self.repositories[name])
        if location.startswith("file://"):
            return urlparse(location).path
        if Path(location).exists():
            return str(Path(location).resolve())
        raise SourceNotFoundError(
            f"source location {location!r} is neither a local path nor a registered repo"
        )

    def emulator_endpoint(self) -> str | None:
        """The emulator URL: configured, else moto's ``MOTO_PORT``, else learnt from a request."""
        if self.settings.endpoint_url:
            return self.settings.endpoint_url
        port = os.environ.get("MOTO_PORT")  # set by the Emulator for moto's own URL building
        if port:
            return f"http://127.0.0.1:{port}"
        return self.settings.learned_endpoint_url

    def learn_endpoint(self, host: str) -> None:
        """Remember where the server listens, from the Host of a CodeBuild request."""
        self.settings.learned_endpoint_url = f"http://{host}"

    def add(self, build: LocalBuild) -> None:
        """Keep ``build`` so that later API calls find it by id."""
        with self.lock:
            self.builds[build.id] = build

    def find(self, build_id: str) -> LocalBuild | None:
        """The build with that id, or None."""
        with self.lock:
            return self.builds.get(build_id)

    def running(self) -> list[LocalBuild]:
        """The builds that have not finished yet."""
        with self.lock:
            return [build for build in self.builds.values() if not build.done.is_set()]

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every running build and wait (up to ``timeout`` each) until it has finished."""
        running = self.running()
        for build in running:
            build.stop()
        for build in running:
            build.done.wait(timeout)

    def reset(self, timeout: float = 10.0) -> None:
        """Back to the initial state (for tests): stop running builds, forget all state.

        Builds, listeners, repositories and settings (endpoint, timeout minute, clock) are
        dropped; whether moto is patched is kept (see ``installed``).
        """
        self.stop_all(timeout)
        with self.lock:
            self.builds.clear()
        self.listeners.clear()
        self.repositories.clear()
        self.settings = Settings()


#: The registry moto's patches and the Step Functions integration use.
REGISTRY = CodeBuildRegistry()

# The module-level API works on that one registry.
configure = REGISTRY.configure
add_log_listener = REGISTRY.add_log_listener
remove_log_listener = REGISTRY.remove_log_listener
register_repository = REGISTRY.register_repository
reset = REGISTRY.reset
