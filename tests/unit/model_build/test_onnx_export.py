"""The float64 tree export, the k-NN tie rule and the recorded parity figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from mlops_pipeline.model_build import onnx_trees
from mlops_pipeline.model_build.export import export_model
from mlops_pipeline.model_build.parity import float32_atol, knn_ties

COLUMNS = ["a", "b"]


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    return x, x[:, 0] * 3 + np.sin(x[:, 1]) * 1e6  # large targets: float32 leaves would show


@pytest.mark.parametrize(
    "model", [DecisionTreeRegressor(max_depth=5), HistGradientBoostingRegressor(max_iter=20)]
)
def test_tree_regressors_export_as_float64_tree_ensemble(model: object, tmp_path: Path) -> None:
    x, y = _data()
    model.fit(x, y)  # type: ignore[attr-defined]
    result = export_model(model, COLUMNS, x, tmp_path / "m")
    assert result.flavor == "onnx", result.fallback_reason
    # float64 all through: only the summation order differs (float32 leaves would be ~1e-1 off)
    assert result.parity is not None and result.parity.max_abs_diff <= 1e-12 * np.abs(y).max()
    graph = onnx.load(str(tmp_path / "m" / "model.onnx"))
    assert {"TreeEnsemble"} <= {node.op_type for node in graph.graph.node}
    assert {(o.domain, o.version) for o in graph.opset_import} >= {("ai.onnx.ml", 5)}
    recorded = json.loads((tmp_path / "m" / "serving.json").read_text())["parity"]
    assert recorded["precision"] == "float64" and recorded["rtol"] == 1e-5 and recorded["rows"] == len(x)


def test_sklearn_trees_round_the_input_to_float32_like_scikit_learn(tmp_path: Path) -> None:
    """At a threshold float32 cannot hold, scikit-learn routes the float32-rounded input."""
    unit = 2.0**-23  # float32 spacing at 1.0
    x = np.array([[1.0, 0.0], [1.0 + 3 * unit, 0.0]])
    model = DecisionTreeRegressor().fit(x, [0.0, 1.0])
    threshold = model.tree_.threshold[0]  # 1 + 1.5 units; float32 rounds it up to 1 + 2 units
    rows = np.array([[threshold, 0.0]])
    assert model.predict(rows).tolist() == [1.0]  # right: float32(threshold) > threshold
    result = export_model(model, COLUMNS, rows, tmp_path / "m")
    assert result.flavor == "onnx", result.fallback_reason


def test_knn_tie_rule_is_lowest_training_index() -> None:
    # Rows 0-3 are one point with different targets: any 2 of them are "the 2 nearest".
    x = np.array([[0.0, 0.0]] * 4 + [[5.0, 5.0], [5.0, 6.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 200.0])
    model = KNeighborsRegressor(2).fit(x, y)
    ties = knn_ties(model, np.array([[0.0, 0.1], [5.0, 5.1]]))
    assert ties is not None
    assert ties.tied.tolist() == [True, False]
    assert ties.values[0] == 1.5  # rows 0 and 1


def test_knn_with_ties_is_served_by_onnx_and_follows_the_rule(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    points = np.round(rng.normal(size=(6, 2)), 1)
    x = points[rng.integers(0, 6, 90)]
    y = rng.normal(size=90)
    model = KNeighborsRegressor(5).fit(x, y)
    rows = x[:40] + 0.01
    result = export_model(model, COLUMNS, rows, tmp_path / "m")
    assert result.flavor == "onnx", result.fallback_reason
    assert result.parity is not None and result.parity.tied_rows > 0


def test_knn_with_distance_weights_has_no_tie_rule() -> None:
    model = KNeighborsRegressor(2, weights="distance").fit(np.zeros((3, 2)), [1.0, 2.0, 3.0])
    assert knn_ties(model, np.zeros((1, 2))) is None


def test_float32_tolerance_scales_with_the_values() -> None:
    assert float32_atol(np.array([0.5, -0.2])) == 1e-5
    assert float32_atol(np.array([250.0, -1000.0])) == pytest.approx(1e-2)


def test_a_graph_mixing_tree_ensemble_with_deprecated_tree_operators_is_refused() -> None:
    nodes = [
        helper.make_node("TreeEnsemble", ["x"], ["a"], domain="ai.onnx.ml"),
        helper.make_node("TreeEnsembleRegressor", ["x"], ["b"], domain="ai.onnx.ml"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 2])],
        [helper.make_tensor_value_info("a", TensorProto.DOUBLE, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 3)])
    with pytest.raises(NotImplementedError, match="TreeEnsembleRegressor"):
        onnx_trees.finalize(model)
