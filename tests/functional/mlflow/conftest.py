"""Fixtures of the MLflow tests: models made through the client on the session's ``mlflow server``.

The server fixture (``mlflow_server``) lives in ``tests/functional/conftest.py``: the port-contract
suite (``tests/functional/ports``) shares it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_pipeline.adapters.mlflow_registry import MlflowRegistry
from mlops_pipeline.local.stack.mlflow_server import MlflowServer


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def process_group_exists() -> Callable[[int], bool]:
    """True while any process of the group (the server and its uvicorn worker) is alive."""
    return _group_exists


@pytest.fixture(scope="session")
def mlflow_client(mlflow_server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture
def registry(mlflow_server: MlflowServer) -> MlflowRegistry:
    return MlflowRegistry(tracking_uri=mlflow_server.url)


@dataclass
class ModelFactory:
    """Creates runs with metrics and registered versions through the plain MLflow client."""

    client: MlflowClient
    workdir: Path
    experiment_id: str

    def new_name(self) -> str:
        return f"model-{uuid.uuid4().hex[:10]}"

    def version(
        self,
        name: str,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        run = self.client.create_run(self.experiment_id)
        run_id = run.info.run_id
        for key, value in (metrics or {}).items():
            self.client.log_metric(run_id, key, value)
        # A tiny artifact stands in for the model: the version's source must exist.
        model_dir = self.workdir / run_id / "model"
        model_dir.mkdir(parents=True)
        (model_dir / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
        self.client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        self.client.set_terminated(run_id)
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        mv = self.client.create_model_version(
            name, source=f"runs:/{run_id}/model", run_id=run_id, tags=dict(tags or {})
        )
        return str(mv.version)


@pytest.fixture(scope="session")
def make_models() -> Callable[[MlflowClient, Path], ModelFactory]:
    """Build a ModelFactory for another server or user (a fresh experiment of that client)."""

    def make(client: MlflowClient, workdir: Path) -> ModelFactory:
        return ModelFactory(client, workdir, client.create_experiment(f"tests-{uuid.uuid4().hex[:8]}"))

    return make


@pytest.fixture(scope="session")
def models(mlflow_client: MlflowClient, tmp_path_factory: pytest.TempPathFactory) -> ModelFactory:
    experiment_id = mlflow_client.create_experiment(f"tests-{uuid.uuid4().hex[:8]}")
    return ModelFactory(mlflow_client, tmp_path_factory.mktemp("artifacts-src"), experiment_id)
