"""The types the skops fallback may load: a fixed allow-list owned by the pipeline.

``skops.io.load`` refuses any type it is not told to trust. Which types to trust must never come
from the model file itself (whoever wrote the training code also chose what the file contains):
a type is trusted only when it is a scikit-learn, NumPy or SciPy sparse class, and none of the
classes that call code chosen by the model's author (``FunctionTransformer`` and friends, which
hold arbitrary callables). Anything else stops the build with the names it found.

One opt-in widens it: a class defined in a project module that ``mlops.toml`` declares under
``[serving] modules`` (the project's own code, shipped in the artifact from the checkout and run
by the inference function). Such a type is trusted by its name's module, never loaded by the
trusted step (``project_types``).
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


def is_project_type(type_name: str, modules: Iterable[str]) -> bool:
    """True when ``type_name`` is ``<module>.<...>.<name>`` of a declared project module."""
    return "." in type_name and type_name.split(".", 1)[0] in set(modules)


def project_types(found: Iterable[str], modules: Iterable[str]) -> tuple[str, ...]:
    """The found types that are trusted only because a declared project module defines them."""
    declared = tuple(modules)
    return tuple(sorted(n for n in set(found) if not is_allowed(n) and is_project_type(n, declared)))


def _hint(refused: list[str], modules: tuple[str, ...]) -> str:
    """What the author can do about the refused names (why each is refused)."""
    hints = []
    in_script = sorted({n.rsplit(".", 1)[-1] for n in refused if n.startswith(("__main__.", "train."))})
    if in_script:
        hints.append(
            f"{', '.join(in_script)} is defined in the training script itself, which the inference "
            "function cannot import: move it to a module of the project (e.g. features.py) and declare "
            'that module in mlops.toml, [serving] modules = ["features"]'
        )
    other = sorted(
        {n.split(".", 1)[0] for n in refused if not n.startswith(("__main__.", "train.", "builtins."))}
        - {p.rstrip(".").split(".")[0] for p in ALLOWED_PREFIXES}
    )
    if other:
        hints.append(
            f"if {', '.join(other)} is a module of your project, declare it in mlops.toml, "
            f"[serving] modules = {sorted(set(modules) | set(other))!r} (its code then ships with the "
            "model and runs in the inference function); a library's classes cannot be served by the "
            "fallback: make the model export to ONNX"
        )
    if any(n in REFUSED for n in refused):
        hints.append("estimators that call a stored function (FunctionTransformer, ...) are never trusted")
    return ("; " + "; ".join(hints)) if hints else ""


def trusted_types(found: Iterable[str], modules: Iterable[str] = ()) -> tuple[str, ...]:
    """The types skops reports as untrusted, if every one is on the allow-list or defined in a
    declared project module (``modules``); else ExportError naming them and what to do."""
    declared = tuple(modules)
    names = sorted(set(found))
    refused = [n for n in names if not is_allowed(n) and not is_project_type(n, declared)]
    if refused:
        raise ExportError(
            "the skops fallback refuses types outside the pipeline's allow-list "
            f"(scikit-learn, NumPy, SciPy sparse; no user callables): {', '.join(sorted(refused))}"
            + _hint(refused, declared)
        )
    return tuple(names)
