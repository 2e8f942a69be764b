"""A model with the project's own transformer class (issue 11): served from a declared module, or
refused with what to do, against a real mlflow server; the zip's handler runs in a fresh process."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from build_test_helpers import SEED, build_env, git_checkout
from mlflow import MlflowClient
from test_build_functional import fetch_zip

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.runner import Builder, BuildSettings
from mlops_pipeline.model_build.train_step import Trainer, TrainSettings

pytestmark = pytest.mark.functional

COLUMNS = ["PORT_LOAD_LAT", "PORT_LOAD_LONG", "PORT_DEL_LAT", "PORT_DEL_LONG"]
SCALER = textwrap.dedent(
    """
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin


    class RouteScaler(TransformerMixin, BaseEstimator):
        \"\"\"Centre and scale each coordinate, then add the squared distance of the route.\"\"\"

        def fit(self, x, y=None):
            x = np.asarray(x, dtype="float64")
            self.mean_, self.scale_ = x.mean(axis=0), x.std(axis=0) + 1e-9
            return self

        def transform(self, x):
            z = (np.asarray(x, dtype="float64") - self.mean_) / self.scale_
            return np.column_stack([z, (z[:, :2] - z[:, 2:]).__pow__(2).sum(axis=1)])
    """
)
TRAIN = textwrap.dedent(
    """
    import mlflow, pandas as pd, skops.io
    from mlflow.models import infer_signature
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    {define}
    columns = {columns!r}
    frame = pd.read_csv("data/data.csv", index_col=0)
    x, y = frame[columns].astype("float64"), frame["DELIVERY_TIME_DAYS"].astype("float64")
    model = make_pipeline(RouteScaler(), Ridge(alpha=1.0)).fit(x, y)
    with mlflow.start_run():
        mlflow.log_metric("rmse", float(((model.predict(x) - y) ** 2).mean() ** 0.5))
        mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(x.head(3), model.predict(x.head(3))),
            input_example=x.head(3), {save}
        )
    """
)
SKOPS = "skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model))"


def custom_project(tmp_path: Path, name: str, *, in_script: bool, save: str = SKOPS) -> Path:
    source = tmp_path / "src"
    (source / "data").mkdir(parents=True)
    shutil.copyfile(SEED / "data/data.csv", source / "data/data.csv")
    define = SCALER if in_script else "from features import RouteScaler"
    (source / "train.py").write_text(TRAIN.format(define=define, columns=COLUMNS, save=save))
    toml = f'[model]\nname = "{name}"\n[parity]\ndata = "data/data.csv"\nrows = 60\n'
    if not in_script:
        (source / "features.py").write_text(SCALER)
        toml += '[serving]\nmodules = ["features"]\n'
    (source / "mlops.toml").write_text(toml)
    return git_checkout(source, tmp_path / "checkout")


SERVE = textwrap.dedent(
    """
    import importlib, json, sys
    sys.path.insert(0, sys.argv[1])  # the task root, as Lambda puts it first; no site-packages (-S)
    handler = importlib.import_module("serving.handler").handler
    answers = [handler(json.loads(line)) for line in sys.stdin]
    print(json.dumps({"answers": answers, "features": sys.modules["features"].__file__}))
    """
)


def test_a_declared_project_module_is_shipped_and_serves_the_model(
    tmp_path: Path,
    mlflow_server: MlflowServer,
    emulator: Emulator,
    mlflow_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = custom_project(tmp_path, "custom-code", in_script=False)
    for key, value in emulator.env("tooling").items():  # boto3 reads the emulator's account here
        monkeypatch.setenv(key, value)
    notes: list[str] = []
    settings = BuildSettings.from_env(project, env=build_env(mlflow_server, emulator))
    result = Builder(settings, progress=notes.append).run()
    assert result.serving_flavor == "skops"  # skl2onnx does not know the project's class
    assert "onnx export failed" in (result.fallback_reason or "")
    assert any("checked by the training step only" in n for n in notes), notes
    tags = mlflow_client.get_model_version("custom-code", result.model_version).tags
    assert tags["serving_project_code"] == "features"

    archive = zipfile.ZipFile(io.BytesIO(fetch_zip(emulator, result.artifact.uri)))
    assert archive.read("model/code/features.py").decode() == SCALER  # the checkout's file
    manifest = json.loads(archive.read("model/serving.json"))
    assert manifest["project_code"] == ["features"]
    assert "features.RouteScaler" in manifest["trusted_types"]
    task_root = tmp_path / "task"
    archive.extractall(task_root)
    rows = pd.read_csv(SEED / "data/data.csv")[COLUMNS].sample(n=50, random_state=3)
    requests = [{"columns": COLUMNS, "data": rows.to_numpy().tolist()}]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SERVE, str(task_root)],
        input="\n".join(json.dumps(r) for r in requests),
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,  # not the project: the module must come from the zip
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["features"] == str(task_root / "model/code/features.py")
    answer = out["answers"][0]
    assert answer["statusCode"] == 200, answer
    # The same model fitted here (Ridge on the same rows is deterministic).
    namespace: dict[str, object] = {}
    exec(SCALER, namespace)  # noqa: S102 - the test's own fixture source
    frame = pd.read_csv(SEED / "data/data.csv", index_col=0)
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(namespace["RouteScaler"](), Ridge(alpha=1.0))  # type: ignore[operator]
    model.fit(frame[COLUMNS].astype("float64"), frame["DELIVERY_TIME_DAYS"].astype("float64"))
    np.testing.assert_allclose(answer["predictions"], model.predict(rows), rtol=1e-9)


@pytest.mark.parametrize("save", [SKOPS, 'serialization_format="cloudpickle"'], ids=["skops", "cloudpickle"])
def test_a_class_defined_in_train_py_is_refused_with_what_to_do(tmp_path: Path, save: str) -> None:
    project = custom_project(tmp_path, "in-script", in_script=True, save=save)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    with pytest.raises(BuildError) as refused:
        Trainer(TrainSettings(project, env=env)).run(tmp_path / "out")
    message = str(refused.value)
    assert "RouteScaler" in message and "move it to a module" in message, message
    assert '[serving] modules = ["features"]' in message
