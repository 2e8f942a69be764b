"""Fixtures shared by the functional areas: one real ``mlflow server`` per session.

``mlflow/`` (the registry adapter's own tests) and ``ports/`` (the port-contract suite)
both use it; tests make their own uniquely named models, so they never meet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_pipeline.local.stack.mlflow_server import MlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start(timeout=90)
    try:
        yield server
    finally:
        server.stop()
