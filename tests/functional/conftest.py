"""Fixtures shared by the functional areas: one real ``mlflow server`` per session.

``mlflow/`` (the registry adapter's own tests), ``ports/`` (the port-contract suite) and
``model_build/`` (the build) use it; tests make their own uniquely named models, or compare what
they find before and after, so they never meet. One server instead of one per module saves its
start (seconds each) on every module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_pipeline.local.stack.mlflow_server import MlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start(timeout=120)  # a loaded CI machine starts it slowly
    try:
        yield server
    finally:
        server.stop()
