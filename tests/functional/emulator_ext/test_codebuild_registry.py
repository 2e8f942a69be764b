"""The CodeBuild runtime's registry: ``reset()`` stops running builds and forgets every piece of state."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_pipeline.local.emulator import codebuild
from mlops_pipeline.local.emulator.codebuild import (
    BuildRequest,
    CodeBuildRegistry,
    SourceNotFoundError,
    get_build,
    start_build,
)
from mlops_pipeline.ports import SystemClock

pytestmark = pytest.mark.functional

SLEEPING = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n"
REPO_URL = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models"


class FrozenClock:
    def now(self) -> datetime:
        return datetime(2024, 1, 1, tzinfo=UTC)


def test_reset_stops_running_builds_and_forgets_all_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("MOTO_PORT", raising=False)  # the endpoint must come from the registry only
    registry = CodeBuildRegistry()  # not the shared one: other tests' builds stay untouched
    registry.configure(endpoint_url="http://127.0.0.1:9/", minute_seconds=0.5, clock=FrozenClock())
    registry.learn_endpoint("127.0.0.1:8")
    registry.register_repository("models", tmp_path)
    lines: list[str] = []
    registry.add_log_listener(lambda build_id, line: lines.append(line))
    registry.installed = True
    build_id = start_build(
        BuildRequest(
            account_id="111111111111",
            region="us-east-1",
            project={"name": "reset-me", "source": {"type": "NO_SOURCE"}},
            buildspec_override=SLEEPING,
        ),
        registry=registry,
    )["id"]
    deadline = time.monotonic() + 10
    # The phase flips to BUILD before the first log line reaches the listeners: wait for both.
    while (record := get_build(build_id, registry=registry)) and (
        record["currentPhase"] != "BUILD" or not lines
    ):
        assert time.monotonic() < deadline, (record, lines)
        time.sleep(0.05)
    build = registry.find(build_id)
    assert build is not None and not build.done.is_set()
    # Everything reset() must clear is really there, so a reset() that misses a piece fails below.
    assert registry.running() == [build]
    assert registry.resolve_source_location(REPO_URL) == str(tmp_path.resolve())
    assert registry.emulator_endpoint() == "http://127.0.0.1:9"
    assert registry.settings.minute_seconds == 0.5 and lines
    assert get_build(build_id) is None  # the shared registry never saw it

    registry.reset()

    assert build.done.is_set()
    assert build.snapshot()["buildStatus"] == "STOPPED"
    assert registry.builds == {} and get_build(build_id, registry=registry) is None
    assert registry.listeners == []
    assert registry.repositories == {}
    with pytest.raises(SourceNotFoundError, match="not registered"):
        registry.resolve_source_location(REPO_URL)
    assert registry.emulator_endpoint() is None  # neither the configured nor the learnt one
    assert registry.settings.minute_seconds == 60.0
    assert isinstance(registry.settings.clock, SystemClock)
    assert registry.installed  # moto stays patched, so the registry keeps knowing it


def test_module_level_api_works_on_the_shared_registry() -> None:
    assert codebuild.reset.__self__ is codebuild.REGISTRY
    assert codebuild.configure.__self__ is codebuild.REGISTRY
    assert codebuild.register_repository.__self__ is codebuild.REGISTRY
