"""The skops fallback trusts a fixed allow-list of types, never what the model file lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlops_pipeline.model_build.errors import ExportError
from mlops_pipeline.model_build.export import export_skops
from mlops_pipeline.model_build.skops_types import is_allowed, trusted_types

COLUMNS = ["a", "b"]


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "numpy.dtype",
        "scipy.sparse._csr.csr_matrix",
    ],
)
def test_library_types_are_allowed(name: str) -> None:
    assert is_allowed(name)


@pytest.mark.parametrize(
    "name",
    [
        "builtins.eval",
        "os.system",
        "train.CustomTransformer",
        "sklearnx.Evil",  # a look-alike prefix
        "scipy.io.loadmat",  # SciPy beyond sparse matrices
        "sklearn.preprocessing._function_transformer.FunctionTransformer",  # calls the author's code
    ],
)
def test_other_types_are_refused(name: str) -> None:
    assert not is_allowed(name)
    with pytest.raises(ExportError, match="allow-list"):
        trusted_types(["numpy.dtype", name])


def test_trusted_types_are_sorted_and_unique() -> None:
    assert trusted_types(["numpy.dtype", "sklearn.neighbors._kd_tree.KDTree", "numpy.dtype"]) == (
        "numpy.dtype",
        "sklearn.neighbors._kd_tree.KDTree",
    )


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    return x, x[:, 0] * 2.0 + 1.0


def test_a_knn_export_trusts_its_tree(tmp_path: Path) -> None:
    x, y = _data()
    manifest = export_skops(KNeighborsRegressor(n_neighbors=3).fit(x, y), COLUMNS, tmp_path, max_rows=10)
    assert "sklearn.neighbors._kd_tree.KDTree" in manifest.trusted_types


def authors_function(x: np.ndarray) -> np.ndarray:
    """Stands for code the model's author wrote: loading the model would call it."""
    return x


def test_an_export_holding_the_authors_function_is_refused(tmp_path: Path) -> None:
    x, y = _data()
    model = make_pipeline(FunctionTransformer(authors_function), StandardScaler(), KNeighborsRegressor(3))
    model.fit(x, y)
    with pytest.raises(ExportError, match=r"allow-list.*authors_function"):
        export_skops(model, COLUMNS, tmp_path, max_rows=10)
