"""Converters registered with skl2onnx before an export, for what it does not export in float64.

- tree ensembles: ``onnx_trees`` (``TreeEnsemble``, ai.onnx.ml opset 5, float64);
- SVR / NuSVR: the kernel expansion in plain float64 ONNX arithmetic (onnxruntime's
  ``SVMRegressor`` exists for float32 only);
- TransformedTargetRegressor: the regressor followed by the inverse of a known function or scaler;
- SimpleImputer: ``Where(IsNaN(x), statistics, x)`` (onnxruntime's ``Imputer`` is float32 only);
- DecisionTree-, ExtraTree- and GradientBoostingClassifier: skl2onnx's own converters on a
  float32 cast of the input (these models compare a float32 copy of the input themselves),
  with the probabilities widened back to float64;
- LightGBM and XGBoost: onnxmltools' converters, which are float32: the input is cast to
  float32 inside the graph (XGBoost itself predicts in float32).
Exports through the float32 converters are checked with the float32 tolerance (``parity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import TensorProto

from mlops_pipeline.model_build import onnx_trees

Converter = Callable[[Any, Any, Any], None]
_registered = False
# Families whose export computes in float32 (recorded as the export's precision).
FLOAT32_FAMILIES = (
    "LGBMRegressor",
    "LGBMClassifier",
    "XGBRegressor",
    "XGBClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "GradientBoostingClassifier",
)
_CLASSIFIER_OPTIONS = {"zipmap": [True, False], "nocl": [True, False]}


def convert_svr(scope: Any, operator: Any, container: Any) -> None:
    """``sum_i dual_i * K(x, sv_i) + intercept`` with libsvm's kernel formulas, in float64."""
    model = operator.raw_operator
    name, var = scope.get_unique_operator_name, scope.get_unique_variable_name
    vectors = np.asarray(model.support_vectors_, np.float64)
    if model.kernel not in ("linear", "poly", "rbf", "sigmoid"):
        raise NotImplementedError(f"SVR kernel {model.kernel!r} is not exported")

    def constant(values: np.ndarray) -> str:
        out = var("const")
        container.add_initializer(out, TensorProto.DOUBLE, list(values.shape), values.ravel().tolist())
        return out

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = var(op.lower())
        container.add_node(op, inputs, out, name=name(op), **attrs)
        return out

    x = operator.inputs[0].full_name
    dot = node("MatMul", [x, constant(vectors.T.copy())])
    gamma, coef0 = float(model._gamma), float(model.coef0)
    if model.kernel == "linear":
        kernel = dot
    elif model.kernel == "rbf":
        # libsvm: exp(-gamma * (x.x + sv.sv - 2 x.sv))
        squares = node("ReduceSumSquare", [x], axes=[1], keepdims=1)
        norms = constant((vectors * vectors).sum(axis=1).reshape(1, -1))
        twice = node("Mul", [dot, constant(np.array([[2.0]]))])
        distance = node("Sub", [node("Add", [squares, norms]), twice])
        kernel = node("Exp", [node("Mul", [distance, constant(np.array([[-gamma]]))])])
    else:
        affine = node(
            "Add", [node("Mul", [dot, constant(np.array([[gamma]]))]), constant(np.array([[coef0]]))]
        )
        if model.kernel == "sigmoid":
            kernel = node("Tanh", [affine])
        else:
            kernel = node("Pow", [affine, constant(np.array([[float(model.degree)]]))])
    weighted = node("MatMul", [kernel, constant(np.asarray(model.dual_coef_, np.float64).T.copy())])
    container.add_node(
        "Add",
        [weighted, constant(np.asarray(model.intercept_, np.float64).reshape(1, 1))],
        operator.outputs[0].full_name,
        name=name("Add"),
    )


def convert_simple_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Replace NaN by the fitted statistics, in float64."""
    model = operator.raw_operator
    statistics = np.asarray(model.statistics_, np.float64)
    missing = model.missing_values
    if (
        not (isinstance(missing, float) and np.isnan(missing))
        or model.add_indicator
        or np.isnan(statistics).any()
    ):
        raise NotImplementedError(
            "only a NaN imputer without indicator and with all columns kept is exported"
        )
    name, var = scope.get_unique_operator_name, scope.get_unique_variable_name
    x = operator.inputs[0].full_name
    fill = var("statistics")
    container.add_initializer(fill, TensorProto.DOUBLE, [1, len(statistics)], statistics.tolist())
    isnan = var("isnan")
    container.add_node("IsNaN", x, isnan, name=name("IsNaN"))
    container.add_node("Where", [isnan, fill, x], operator.outputs[0].full_name, name=name("Where"))


def _inverse(model: Any) -> Callable[[Any, int], Any]:
    """The inverse transform of a TransformedTargetRegressor as ONNX algebra, for known cases only."""
    from skl2onnx.algebra import onnx_ops as ops
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    transformer = model.transformer_
    if isinstance(transformer, StandardScaler):
        scale = np.asarray(transformer.scale_ if transformer.with_std else [1.0], np.float64)
        mean = np.asarray(transformer.mean_ if transformer.with_mean else [0.0], np.float64)
        return lambda y, v: ops.OnnxAdd(ops.OnnxMul(y, scale, op_version=v), mean, op_version=v)
    if not isinstance(transformer, FunctionTransformer) or transformer.inv_kw_args:
        raise NotImplementedError(f"target transformer {type(transformer).__name__} is not exported")
    one = np.array([1.0])
    known: dict[Any, Callable[[Any, int], Any]] = {
        None: lambda y, v: ops.OnnxIdentity(y, op_version=v),
        np.exp: lambda y, v: ops.OnnxExp(y, op_version=v),
        np.expm1: lambda y, v: ops.OnnxSub(ops.OnnxExp(y, op_version=v), one, op_version=v),
        np.log: lambda y, v: ops.OnnxLog(y, op_version=v),
        np.log1p: lambda y, v: ops.OnnxLog(ops.OnnxAdd(y, one, op_version=v), op_version=v),
        np.sqrt: lambda y, v: ops.OnnxSqrt(y, op_version=v),
        np.square: lambda y, v: ops.OnnxMul(y, y, op_version=v),
    }
    for func, build in known.items():
        if transformer.inverse_func is func:
            return build
    raise NotImplementedError(f"inverse_func {transformer.inverse_func!r} is not exported")


def convert_transformed_target(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxIdentity

    model = operator.raw_operator
    version = container.target_opset
    inverse = _inverse(model)
    predicted = OnnxSubEstimator(model.regressor_, operator.inputs[0], op_version=version)
    final = OnnxIdentity(inverse(predicted, version), op_version=version, output_names=operator.outputs[:1])
    final.add_to(scope, container)


class _Float32View:
    """The operator as a float32-only converter sees it: float32 input and outputs."""

    def __init__(self, operator: Any, inputs: list[Any], outputs: list[Any]) -> None:
        self._operator, self.inputs, self.outputs = operator, inputs, outputs

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._operator, attr)

    @property
    def input_full_names(self) -> list[str]:
        return [v.full_name for v in self.inputs]

    @property
    def output_full_names(self) -> list[str]:
        return [v.full_name for v in self.outputs]


def float32_converter(convert: Converter) -> Converter:
    """Run a float32 converter on a float32 cast of the input; widen its float outputs back."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    def converter(scope: Any, operator: Any, container: Any) -> None:
        source = operator.inputs[0]
        narrow = scope.declare_local_variable("input_float32", FloatTensorType(source.type.shape))
        container.add_node(
            "Cast",
            source.full_name,
            narrow.full_name,
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )
        outputs, widen = [], []
        for output in operator.outputs:
            if isinstance(output.type, DoubleTensorType):
                local = scope.declare_local_variable("output_float32", FloatTensorType(output.type.shape))
                outputs.append(local)
                widen.append((local.full_name, output.full_name))
            else:
                outputs.append(output)
        convert(scope, _Float32View(operator, [narrow], outputs), container)
        for local_name, output_name in widen:
            container.add_node(
                "Cast",
                local_name,
                output_name,
                to=TensorProto.DOUBLE,
                name=scope.get_unique_operator_name("Cast"),
            )

    return converter


def _register_float32_trees() -> None:
    """skl2onnx's tree classifiers, run on the float32 input they compare anyway."""
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from sklearn import ensemble, tree

    for cls in (tree.DecisionTreeClassifier, tree.ExtraTreeClassifier, ensemble.GradientBoostingClassifier):
        alias = sklearn_operator_name_map[cls]
        original = get_converter(alias)
        update_registered_converter(
            cls,
            alias,
            get_shape_calculator(alias),
            float32_converter(original),
            options=original.get_allowed_options(),
        )


def _register_boosting() -> None:
    """LightGBM / XGBoost through onnxmltools, when those libraries are installed."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        convert = float32_converter(convert_lightgbm)
        update_registered_converter(
            LGBMRegressor,
            "LgbmRegressor",
            calculate_linear_regressor_output_shapes,
            convert,
            options={"split": None},
        )
        update_registered_converter(
            LGBMClassifier,
            "LgbmClassifier",
            calculate_linear_classifier_output_shapes,
            convert,
            options=_CLASSIFIER_OPTIONS,
        )
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        return
    convert = float32_converter(convert_xgboost)
    update_registered_converter(
        XGBRegressor, "XgbRegressor", calculate_linear_regressor_output_shapes, convert
    )
    update_registered_converter(
        XGBClassifier,
        "XgbClassifier",
        calculate_linear_classifier_output_shapes,
        convert,
        options=_CLASSIFIER_OPTIONS,
    )


def register() -> None:
    """Register (once per process) the converters above with skl2onnx."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from sklearn import compose, ensemble, impute, svm, tree

    for cls in (
        tree.DecisionTreeRegressor,
        tree.ExtraTreeRegressor,
        ensemble.RandomForestRegressor,
        ensemble.ExtraTreesRegressor,
        ensemble.GradientBoostingRegressor,
    ):
        update_registered_converter(
            cls,
            f"Mlops{cls.__name__}",
            calculate_linear_regressor_output_shapes,
            onnx_trees.convert_tree_regressor,
        )
    update_registered_converter(
        ensemble.HistGradientBoostingRegressor,
        "MlopsHistGradientBoostingRegressor",
        calculate_linear_regressor_output_shapes,
        onnx_trees.convert_hist_regressor,
    )
    update_registered_converter(
        ensemble.HistGradientBoostingClassifier,
        "MlopsHistGradientBoostingClassifier",
        calculate_linear_classifier_output_shapes,
        onnx_trees.convert_hist_classifier,
        options=_CLASSIFIER_OPTIONS,
    )
    for cls in (svm.SVR, svm.NuSVR):
        update_registered_converter(
            cls, f"Mlops{cls.__name__}", calculate_linear_regressor_output_shapes, convert_svr
        )
    update_registered_converter(
        compose.TransformedTargetRegressor,
        "MlopsTransformedTargetRegressor",
        calculate_linear_regressor_output_shapes,
        convert_transformed_target,
    )
    update_registered_converter(
        impute.SimpleImputer,
        "MlopsSimpleImputer",
        _same_shape,
        convert_simple_imputer,
    )
    _register_float32_trees()
    _register_boosting()
    _registered = True


def _same_shape(operator: Any) -> None:
    """A transformer's output: the input's type and shape."""
    operator.outputs[0].type = operator.inputs[0].type.__class__(operator.inputs[0].type.shape)


def float32_family(model: Any) -> str | None:
    """The name of the estimator (in ``model`` or its last pipeline step) exported in float32."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    name = type(final).__name__
    return name if name in FLOAT32_FAMILIES else None
