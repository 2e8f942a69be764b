"""The fault tier: faults injected at the emulator or service boundary, on the real ASL.

Slack's Web API answering 429/5xx (the stand-in's fault switch), the MLflow server stopped,
Lambda invoke errors and timeouts, CodeBuild failures: never a patch of the code under test.
The tier shares one stack (the ASL tier's ``pipeline`` fixture, a separate instance for this
package); each test uses its own model name so registry aliases do not leak between tests.
"""

from __future__ import annotations

import pytest

from tests.asl.conftest import Pipeline, pipeline

__all__ = ["Pipeline", "pipeline"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)
