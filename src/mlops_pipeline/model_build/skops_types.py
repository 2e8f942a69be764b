"""The types the skops fallback may load: a fixed allow-list owned by the pipeline.

``skops.io.load`` refuses any type it is not told to trust. Which types to trust must never come
from the model file itself (whoever wrote the training code also chose what the file contains):
a type is trusted only when it is a scikit-learn, NumPy or SciPy sparse class, and none of the
classes that call code chosen by the model's author (``FunctionTransformer`` and friends, which
hold arbitrary callables). Anything else stops the build with the names it found.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlops_pipeline.model_build.errors import ExportError

ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
# Estimators that store and call a user-supplied function: loading one runs the author's code.
REFUSED = frozenset(
    {
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.compose._target.TransformedTargetRegressor",
        "sklearn.metrics._scorer._Scorer",
    }
)


def is_allowed(type_name: str) -> bool:
    """True for a fixed-allow-list type: scikit-learn, NumPy or SciPy sparse, minus REFUSED."""
    return type_name.startswith(ALLOWED_PREFIXES) and type_name not in REFUSED


def trusted_types(found: Iterable[str]) -> tuple[str, ...]:
    """The types skops reports as untrusted, if every one is on the allow-list; else ExportError."""
    names = sorted(set(found))
    refused = [name for name in names if not is_allowed(name)]
    if refused:
        raise ExportError(
            "the skops fallback refuses types outside the pipeline's allow-list "
            f"(scikit-learn, NumPy, SciPy sparse; no user callables): {', '.join(refused)}"
        )
    return tuple(names)
