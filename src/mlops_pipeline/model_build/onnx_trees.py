"""skl2onnx converters that export tree ensembles as ``ai.onnx.ml`` opset 5 ``TreeEnsemble`` in float64.

skl2onnx writes the older ``TreeEnsembleRegressor``, whose onnxruntime kernel only produces
float32, so a float64 export of a tree regressor does not load and a float32 one loses digits.
``TreeEnsemble`` (opset 5) takes and returns float64 (onnxruntime >= 1.18), which keeps the
thresholds and leaf values exactly as scikit-learn stores them. scikit-learn's own trees
(decision trees, forests, extra trees, gradient boosting) compare a float32 copy of the input
with the thresholds; the export casts the input the same way so every row takes the same path.
The histogram gradient-boosting models compare the float64 input and are exported without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import TensorProto
from onnx.helper import make_tensor

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 5  # the first ai.onnx.ml opset with TreeEnsemble (float64 in and out)
# skl2onnx 1.20 refuses to write an ai.onnx.ml opset above 3: the nodes are declared at 3 while
# converting, and ``finalize`` raises the model's ai.onnx.ml import to 5 afterwards.
_DECLARED_OPSET = 3
_DEPRECATED_IN_5 = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")
_AGGREGATE = {"AVERAGE": 0, "SUM": 1}
_BRANCH_LEQ = 0  # "x <= threshold" takes the true branch, which is scikit-learn's left child


@dataclass
class _Trees:
    """The ``nodes_*``/``leaf_*`` attribute lists of one TreeEnsemble node, tree after tree."""

    featureids: list[int] = field(default_factory=list)
    splits: list[float] = field(default_factory=list)
    truenodeids: list[int] = field(default_factory=list)
    trueleafs: list[int] = field(default_factory=list)
    falsenodeids: list[int] = field(default_factory=list)
    falseleafs: list[int] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    leaf_targets: list[int] = field(default_factory=list)
    leaf_weights: list[float] = field(default_factory=list)

    def add_tree(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        is_leaf: np.ndarray,
        leaf_value: np.ndarray,
        missing_left: np.ndarray,
        target: int = 0,
        scale: float = 1.0,
    ) -> None:
        """Append one tree given per node: children, split and leaf value (root is node 0)."""
        leaf_index: dict[int, int] = {}

        def leaf(node: int) -> int:
            if node not in leaf_index:
                leaf_index[node] = len(self.leaf_weights)
                self.leaf_targets.append(target)
                self.leaf_weights.append(float(leaf_value[node]) * scale)
            return leaf_index[node]

        if is_leaf[0]:  # a tree without a split: one node whose branches both reach the leaf
            self.roots.append(len(self.featureids))
            only = leaf(0)
            self._node(0, 0.0, (only, 1), (only, 1), 0)
            return
        interior = [int(n) for n in range(len(left)) if not is_leaf[n]]
        position = {node: len(self.featureids) + i for i, node in enumerate(interior)}
        self.roots.append(position[0])
        for node in interior:
            true_child, false_child = int(left[node]), int(right[node])
            self._node(
                int(feature[node]),
                float(threshold[node]),
                (leaf(true_child), 1) if is_leaf[true_child] else (position[true_child], 0),
                (leaf(false_child), 1) if is_leaf[false_child] else (position[false_child], 0),
                int(bool(missing_left[node])),
            )

    def _node(
        self, feature: int, split: float, true: tuple[int, int], false: tuple[int, int], missing: int
    ) -> None:
        self.featureids.append(feature)
        self.splits.append(split)
        self.truenodeids.append(true[0])
        self.trueleafs.append(true[1])
        self.falsenodeids.append(false[0])
        self.falseleafs.append(false[1])
        self.missing_true.append(missing)

    def attributes(self, n_targets: int, aggregate: str) -> dict[str, Any]:
        count = len(self.featureids)
        return {
            "n_targets": n_targets,
            "aggregate_function": _AGGREGATE[aggregate],
            "post_transform": 0,
            "tree_roots": self.roots,
            "nodes_featureids": self.featureids,
            "nodes_splits": make_tensor("nodes_splits", TensorProto.DOUBLE, [count], self.splits),
            "nodes_modes": make_tensor(
                "nodes_modes",
                TensorProto.UINT8,
                [count],
                np.full(count, _BRANCH_LEQ, np.uint8).tobytes(),
                raw=True,
            ),
            "nodes_truenodeids": self.truenodeids,
            "nodes_trueleafs": self.trueleafs,
            "nodes_falsenodeids": self.falsenodeids,
            "nodes_falseleafs": self.falseleafs,
            "nodes_missing_value_tracks_true": self.missing_true,
            "leaf_targetids": self.leaf_targets,
            "leaf_weights": make_tensor(
                "leaf_weights", TensorProto.DOUBLE, [len(self.leaf_weights)], self.leaf_weights
            ),
        }


def finalize(model: Any) -> None:
    """Import ai.onnx.ml opset 5 when the graph has a TreeEnsemble node (in place)."""
    ops = {node.op_type for node in model.graph.node if node.domain == ML_DOMAIN}
    if "TreeEnsemble" not in ops:
        return
    if ops & set(_DEPRECATED_IN_5):
        # onnxruntime refuses these operators under ai.onnx.ml 5, and TreeEnsemble needs 5.
        raise NotImplementedError(f"the graph mixes TreeEnsemble with {sorted(ops & set(_DEPRECATED_IN_5))}")
    for opset in model.opset_import:
        if opset.domain == ML_DOMAIN:
            opset.version = ML_OPSET


def _sklearn_tree(trees: _Trees, tree: Any, scale: float = 1.0) -> None:
    """A fitted ``sklearn.tree._tree.Tree`` with one output (regression value)."""
    if tree.n_outputs != 1:
        raise NotImplementedError("multi-output trees are not exported")
    left = tree.children_left
    missing = getattr(tree, "missing_go_to_left", np.zeros(len(left), np.uint8))
    trees.add_tree(
        left,
        tree.children_right,
        tree.feature,
        tree.threshold,
        left == -1,
        tree.value[:, 0, 0],
        missing,
        scale=scale,
    )


def _hist_predictor(trees: _Trees, predictor: Any, target: int) -> None:
    nodes = predictor.nodes
    if np.any(nodes["is_categorical"]):
        raise NotImplementedError("categorical splits of histogram gradient boosting are not exported")
    trees.add_tree(
        nodes["left"],
        nodes["right"],
        nodes["feature_idx"],
        nodes["num_threshold"],
        nodes["is_leaf"],
        nodes["value"],
        nodes["missing_go_to_left"],
        target=target,
    )


def _float64_input(scope: Any, operator: Any, container: Any, as_float32: bool) -> str:
    """The converter's input as float64; rounded through float32 first when the model does so."""
    from skl2onnx.common.data_types import DoubleTensorType

    source = operator.inputs[0]
    if not isinstance(source.type, DoubleTensorType):
        raise NotImplementedError("tree ensembles are exported for float64 input only")
    if not as_float32:
        return str(source.full_name)
    rounded = scope.get_unique_variable_name("input_float32")
    container.add_node(
        "Cast", source.full_name, rounded, to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast")
    )
    widened = scope.get_unique_variable_name("input_rounded")
    container.add_node(
        "Cast", rounded, widened, to=TensorProto.DOUBLE, name=scope.get_unique_operator_name("Cast")
    )
    return widened


def _ensemble(scope: Any, container: Any, source: str, trees: _Trees, n_targets: int, aggregate: str) -> str:
    out = scope.get_unique_variable_name("tree_ensemble")
    container.add_node(
        "TreeEnsemble",
        source,
        out,
        op_domain=ML_DOMAIN,
        op_version=_DECLARED_OPSET,
        name=scope.get_unique_operator_name("TreeEnsemble"),
        **trees.attributes(n_targets, aggregate),
    )
    return out


def _add_constant(
    scope: Any, container: Any, source: str, values: Sequence[float], output: str | None = None
) -> str:
    constant = scope.get_unique_variable_name("base")
    container.add_initializer(constant, TensorProto.DOUBLE, [1, len(values)], [float(v) for v in values])
    out = output or scope.get_unique_variable_name("raw")
    container.add_node("Add", [source, constant], out, name=scope.get_unique_operator_name("Add"))
    return out


def convert_tree_regressor(scope: Any, operator: Any, container: Any) -> None:
    """DecisionTree-, RandomForest-, ExtraTrees- and GradientBoostingRegressor."""
    model = operator.raw_operator
    trees = _Trees()
    base: list[float] | None = None
    if hasattr(model, "tree_"):
        _sklearn_tree(trees, model.tree_)
        aggregate = "SUM"
    elif hasattr(model, "learning_rate"):  # gradient boosting: init + learning_rate * sum of trees
        if model.init_ == "zero":
            base = [0.0]
        elif type(model.init_).__name__ == "DummyRegressor":
            base = [float(np.ravel(model.init_.constant_)[0])]
        else:
            raise NotImplementedError(f"gradient boosting init {type(model.init_).__name__} is not exported")
        for stage in model.estimators_[:, 0]:
            _sklearn_tree(trees, stage.tree_, scale=model.learning_rate)
        aggregate = "SUM"
    else:  # forests: the mean of the trees
        for estimator in model.estimators_:
            _sklearn_tree(trees, estimator.tree_)
        aggregate = "AVERAGE"
    source = _float64_input(scope, operator, container, as_float32=True)
    output = operator.outputs[0].full_name
    if base is None:
        container.add_node(
            "TreeEnsemble",
            source,
            output,
            op_domain=ML_DOMAIN,
            op_version=_DECLARED_OPSET,
            name=scope.get_unique_operator_name("TreeEnsemble"),
            **trees.attributes(1, aggregate),
        )
        return
    _add_constant(scope, container, _ensemble(scope, container, source, trees, 1, aggregate), base, output)


def _hist_raw(scope: Any, operator: Any, container: Any) -> tuple[str, int]:
    """Raw scores of a histogram gradient-boosting model: baseline + sum of its trees."""
    model = operator.raw_operator
    per_iteration = model.n_trees_per_iteration_
    trees = _Trees()
    for iteration in model._predictors:
        for target, predictor in enumerate(iteration):
            _hist_predictor(trees, predictor, target)
    source = _float64_input(scope, operator, container, as_float32=False)
    raw = _ensemble(scope, container, source, trees, per_iteration, "SUM")
    return _add_constant(scope, container, raw, np.ravel(model._baseline_prediction).tolist()), per_iteration


def convert_hist_regressor(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    raw, _ = _hist_raw(scope, operator, container)
    link = type(model._loss.link).__name__
    output = operator.outputs[0].full_name
    if link == "IdentityLink":
        container.add_node("Identity", raw, output, name=scope.get_unique_operator_name("Identity"))
    elif link == "LogLink":  # poisson and gamma losses predict exp(raw)
        container.add_node("Exp", raw, output, name=scope.get_unique_operator_name("Exp"))
    else:
        raise NotImplementedError(f"histogram gradient boosting link {link} is not exported")


def convert_hist_classifier(scope: Any, operator: Any, container: Any) -> None:
    """Labels and probabilities exactly as HistGradientBoostingClassifier computes them."""
    model = operator.raw_operator
    raw, per_iteration = _hist_raw(scope, operator, container)
    name = scope.get_unique_operator_name
    var = scope.get_unique_variable_name
    proba = var("proba")
    if per_iteration == 1:  # binary: sigmoid(raw) is the positive class; the label is raw > 0
        positive = var("positive")
        container.add_node("Sigmoid", raw, positive, name=name("Sigmoid"))
        one = var("one")
        container.add_initializer(one, TensorProto.DOUBLE, [1, 1], [1.0])
        negative = var("negative")
        container.add_node("Sub", [one, positive], negative, name=name("Sub"))
        container.add_node("Concat", [negative, positive], proba, axis=1, name=name("Concat"))
        zero = var("zero")
        container.add_initializer(zero, TensorProto.DOUBLE, [1, 1], [0.0])
        above = var("above")
        container.add_node("Greater", [raw, zero], above, name=name("Greater"))
        index = var("index")
        container.add_node("Cast", above, index, to=TensorProto.INT64, name=name("Cast"))
    else:
        container.add_node("Softmax", raw, proba, axis=1, name=name("Softmax"))
        index = var("index")
        container.add_node("ArgMax", raw, index, axis=1, keepdims=1, name=name("ArgMax"))
    _labels(scope, container, model.classes_, index, operator.outputs[0].full_name)
    _probabilities(scope, container, proba, operator.outputs[1])


def _labels(scope: Any, container: Any, classes: np.ndarray, index: str, output: str) -> None:
    """``classes[index]`` as a flat label vector (int64 or string, as the parser declared)."""
    labels = scope.get_unique_variable_name("classes")
    if all(isinstance(c, str) for c in classes):
        container.add_initializer(
            labels, TensorProto.STRING, [len(classes)], [str(c).encode() for c in classes]
        )
    elif np.issubdtype(np.asarray(classes).dtype, np.integer) or np.asarray(classes).dtype == bool:
        container.add_initializer(labels, TensorProto.INT64, [len(classes)], [int(c) for c in classes])
    else:
        raise NotImplementedError("class labels must be integers or strings")
    flat = scope.get_unique_variable_name("index_flat")
    shape = scope.get_unique_variable_name("flat_shape")
    container.add_initializer(shape, TensorProto.INT64, [1], [-1])
    container.add_node("Reshape", [index, shape], flat, name=scope.get_unique_operator_name("Reshape"))
    container.add_node(
        "Gather", [labels, flat], output, axis=0, name=scope.get_unique_operator_name("Gather")
    )


def _probabilities(scope: Any, container: Any, proba: str, output: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(output.type, DoubleTensorType):
        container.add_node(
            "Identity", proba, output.full_name, name=scope.get_unique_operator_name("Identity")
        )
    else:
        container.add_node(
            "Cast", proba, output.full_name, to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast")
        )
