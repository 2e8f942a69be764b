"""Model zoo: common estimators and pipelines exported, parity-checked and served.

Each model is fitted on small synthetic data, exported by ``export_model`` exactly as the build
does, and then answered by the serving handler's ``Service`` over the exported folder (the code
the Lambda runs), through a direct invoke and a Function URL event. The summary prints the path
and parity figures of every model and the share on ONNX (``model-zoo: onnx=N of M``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn import ensemble, linear_model, neighbors, neural_network, svm, tree
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import make_classification, make_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from xgboost import XGBClassifier, XGBRegressor

from mlops_pipeline.model_build.export import ExportResult, export_model
from mlops_pipeline.serving.handler import Service
from mlops_pipeline.serving.runtime import load_model

pytestmark = pytest.mark.functional

COLUMNS = ["f0", "f1", "f2", "f3", "f4"]
ONNX_SHARE_GOAL = 0.9


def _regression() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_regression(n_samples=300, n_features=5, noise=10.0, random_state=0)
    x[:, 4] = np.round(np.abs(x[:, 4]) * 2) % 4  # a small-integer "category" column
    return x, y


def _classification(classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=300, n_features=5, n_informative=3, n_classes=classes, random_state=0
    )
    x[:, 4] = np.round(np.abs(x[:, 4]) * 2) % 4
    return x, y


def _ties() -> tuple[np.ndarray, np.ndarray]:
    """Few distinct points, each seen many times with different targets: k-NN ties everywhere."""
    rng = np.random.default_rng(0)
    points = np.round(rng.normal(size=(20, 5)), 1)
    x = points[rng.integers(0, len(points), 300)]
    return x, x[:, 0] * 10 + rng.normal(size=len(x)) * 5


def _encoded(final: Any) -> Any:
    """One-hot the integer column, scale the rest, then ``final``."""
    return make_pipeline(
        ColumnTransformer(
            [
                ("category", OneHotEncoder(handle_unknown="ignore"), [4]),
                ("numbers", StandardScaler(), [0, 1, 2, 3]),
            ]
        ),
        final,
    )


# name -> (task, factory); the data is chosen by task ("r", "c", "c3": three classes, "ties").
ZOO: dict[str, tuple[str, Callable[[], Any]]] = {
    "Ridge (scaled)": ("r", lambda: make_pipeline(StandardScaler(), linear_model.Ridge())),
    "LinearRegression (imputer, scaler)": (
        "r",
        lambda: make_pipeline(SimpleImputer(), MinMaxScaler(), linear_model.LinearRegression()),
    ),
    "DecisionTreeRegressor": ("r", lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0)),
    "RandomForestRegressor": ("r", lambda: ensemble.RandomForestRegressor(30, max_depth=6, random_state=0)),
    "ExtraTreesRegressor": ("r", lambda: ensemble.ExtraTreesRegressor(30, max_depth=6, random_state=0)),
    "GradientBoostingRegressor": (
        "r",
        lambda: ensemble.GradientBoostingRegressor(n_estimators=50, random_state=0),
    ),
    "HistGradientBoostingRegressor": ("r", lambda: ensemble.HistGradientBoostingRegressor(max_iter=50)),
    "SVR (scaled)": ("r", lambda: make_pipeline(StandardScaler(), svm.SVR(C=10.0))),
    "KNeighborsRegressor(5), tied data": ("ties", lambda: neighbors.KNeighborsRegressor(5)),
    "TransformedTargetRegressor (Ridge)": (
        "r",
        lambda: TransformedTargetRegressor(regressor=linear_model.Ridge(), transformer=StandardScaler()),
    ),
    "MLPRegressor (scaled)": (
        "r",
        lambda: make_pipeline(
            StandardScaler(),
            neural_network.MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
        ),
    ),
    "LGBMRegressor": ("r", lambda: LGBMRegressor(n_estimators=50, verbose=-1, random_state=0)),
    "XGBRegressor": ("r", lambda: XGBRegressor(n_estimators=50, random_state=0)),
    "LogisticRegression (one-hot, scaled)": ("c", lambda: _encoded(linear_model.LogisticRegression())),
    "DecisionTreeClassifier": ("c", lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0)),
    "RandomForestClassifier": ("c", lambda: ensemble.RandomForestClassifier(30, max_depth=6, random_state=0)),
    "GradientBoostingClassifier": (
        "c",
        lambda: ensemble.GradientBoostingClassifier(n_estimators=50, random_state=0),
    ),
    "HistGradientBoostingClassifier": ("c", lambda: ensemble.HistGradientBoostingClassifier(max_iter=50)),
    "HistGradientBoostingClassifier, 3 classes": (
        "c3",
        lambda: ensemble.HistGradientBoostingClassifier(max_iter=30),
    ),
    "KNeighborsClassifier(5) (scaled)": (
        "c",
        lambda: make_pipeline(StandardScaler(), neighbors.KNeighborsClassifier(5)),
    ),
    "SVC (scaled)": ("c", lambda: make_pipeline(StandardScaler(), svm.SVC())),
    "LinearSVC (one-hot, scaled)": ("c", lambda: _encoded(svm.LinearSVC())),
    "LGBMClassifier": ("c", lambda: LGBMClassifier(n_estimators=50, verbose=-1, random_state=0)),
    "XGBClassifier, 3 classes": ("c3", lambda: XGBClassifier(n_estimators=30, random_state=0)),
}

DATA: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "r": _regression,
    "c": _classification,
    "c3": lambda: _classification(3),
    "ties": _ties,
}


@dataclass
class Exported:
    name: str
    model: Any
    rows: np.ndarray
    result: ExportResult
    seconds: float


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    """Every zoo model fitted and exported once; parity rows: training rows and perturbed ones."""
    exported: dict[str, Exported] = {}
    root = tmp_path_factory.mktemp("zoo")
    for index, (name, (task, factory)) in enumerate(ZOO.items()):
        x, y = DATA[task]()
        model = factory().fit(x, y)
        shifted = x[100:200].copy()
        shifted[:, :4] += np.random.default_rng(index).normal(scale=0.05, size=(100, 4))
        rows = np.vstack([x[:100], shifted])
        started = time.perf_counter()
        result = export_model(model, COLUMNS, rows, root / f"model{index}")
        exported[name] = Exported(name, model, rows, result, time.perf_counter() - started)
    return exported


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_exports_with_parity_and_is_served(zoo: dict[str, Exported], name: str) -> None:
    entry = zoo[name]
    result = entry.result
    assert result.parity is not None and result.parity.ok
    assert result.flavor == "onnx" or result.fallback_reason, "a fallback always states its reason"
    service = Service(load_model(result.model_dir), model_name="zoo", model_version="1")
    rows = entry.rows[:5]
    direct = service({"columns": COLUMNS, "data": rows.tolist()})
    proxied = service({"requestContext": {"http": {"method": "POST"}}, "body": json.dumps(direct_body(rows))})
    assert direct["statusCode"] == 200, direct
    assert json.loads(proxied["body"]) == direct
    expected = entry.model.predict(rows)
    if result.parity.tied_rows == 0:  # tied k-NN rows follow the lowest-index rule, checked by parity
        if service.predictor.manifest.task == "classification":
            assert direct["predictions"] == expected.tolist()
            if hasattr(entry.model, "predict_proba"):
                assert direct["classes"] == entry.model.classes_.tolist()
                assert np.allclose(
                    direct["probabilities"], entry.model.predict_proba(rows), rtol=1e-4, atol=1e-5
                )
            else:  # decision scores are not probabilities: the response has none
                assert "probabilities" not in direct
        else:
            assert np.allclose(direct["predictions"], expected, rtol=1e-4, atol=1e-3)


def direct_body(rows: np.ndarray) -> dict[str, Any]:
    return {"inputs": [dict(zip(COLUMNS, row.tolist(), strict=True)) for row in rows]}


def test_zoo_is_mostly_on_onnx_and_prints_its_table(
    zoo: dict[str, Exported], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        f"{'model':<40} {'path':<5} {'precision':<9} {'rows':>4} {'max |diff|':>10} {'rtol':>7} {'atol':>8} {'ties':>4} {'export s':>8}  fallback reason"
    ]
    for entry in zoo.values():
        parity = entry.result.parity
        assert parity is not None
        lines.append(
            f"{entry.name:<40} {entry.result.flavor:<5} {parity.precision:<9} {parity.rows:>4} "
            f"{parity.max_abs_diff:>10.2e} {parity.rtol:>7.0e} {parity.atol:>8.1e} {parity.tied_rows:>4} "
            f"{entry.seconds:>8.2f}  {entry.result.fallback_reason or ''}"
        )
    onnx = sum(entry.result.flavor == "onnx" for entry in zoo.values())
    lines.append(f"model-zoo: onnx={onnx} of {len(zoo)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(zoo) >= 15
    assert onnx / len(zoo) >= ONNX_SHARE_GOAL, "\n".join(lines)


def test_a_model_without_converter_still_falls_back_with_its_reason(tmp_path: Path) -> None:
    """The zoo's ONNX share must not come from a parity check that accepts anything."""
    from sklearn.kernel_ridge import KernelRidge

    x, y = _regression()
    result = export_model(KernelRidge().fit(x, y), COLUMNS, x[:50], tmp_path / "model")
    assert result.flavor == "skops"
    assert result.fallback_reason and "KernelRidge" in result.fallback_reason
