"""The model project's own code: where each step may import it, and clear errors when it is missing.

A model may use classes of the project (``features.py``: a custom transformer). Such a model is
served only through the skops fallback and only when ``mlops.toml`` declares the modules
(``[serving] modules = ["features"]``): they ship in the artifact (``model/code/``, from the
checkout) and run in the inference function. The training step imports them to load and export
the model (it runs the author's code anyway); the trusted step never imports them: it checks by
name, reading the source as text (``ast``), that each project type the skops file names is
defined there.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlops_pipeline.model_build.config import ProjectConfig, module_path
from mlops_pipeline.model_build.errors import BuildError

# pickle's and importlib's words for a class of the script that ran (train.py is __main__ there).
_MISSING_ATTR = re.compile(
    r"Can't get attribute '([^']+)' on <module '__main__'|module '__main__' has no attribute '([^']+)'"
)
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_MAIN_TYPE = re.compile(r"__main__\.([A-Za-z_][A-Za-z0-9_]*)")


def declared_modules(config: ProjectConfig) -> dict[str, Path]:
    """``[serving] modules`` as name -> file or package folder in the project."""
    if config.project_dir is None:
        return {}
    found = {name: module_path(config.project_dir, name) for name in config.serving_modules}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise BuildError(f"mlops.toml [serving] modules names {missing[0]!r}, which the project lacks")
    return {name: path for name, path in found.items() if path is not None}


@contextmanager
def import_paths(paths: Iterable[Path]) -> Iterator[None]:
    """``paths`` appended to ``sys.path`` for the block (training step only: it imports the
    author's modules to load the model); appended so that they never shadow the pipeline's."""
    added = [str(p) for p in paths if str(p) not in sys.path]
    sys.path.extend(added)
    try:
        yield
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)


def explain_load_failure(exc: BaseException, entrypoint: str) -> BuildError:
    """A BuildError naming why the logged model could not be loaded, and what to change."""
    text = " | ".join(f"{type(e).__name__}: {e}" for e in _chain(exc))
    main = _MISSING_ATTR.search(text) or _MAIN_TYPE.search(text)
    if main:
        return BuildError(
            f"the model uses class {next(g for g in main.groups() if g)}, defined in {entrypoint} itself: a model can only be "
            "loaded where its classes can be imported; move it to a module of the project (e.g. "
            "features.py), import it from there in train.py and declare it in mlops.toml: [serving] "
            'modules = ["features"]'
        )
    missing = _NO_MODULE.search(text)
    if missing:
        top = missing.group(1).split(".")[0]
        return BuildError(
            f"the model needs module {missing.group(1)!r}, which cannot be imported: a module of the "
            f"project must be at its root ({top}.py or {top}/) and declared in mlops.toml ([serving] "
            f'modules = ["{top}"]); a library belongs in requirements.txt (training) and [serving] '
            "requirements (the serving artifact)"
        )
    return BuildError(f"the logged model could not be loaded for export: {text[:1500]}")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def check_defined(types: Iterable[str], modules: Mapping[str, Path]) -> None:
    """BuildError unless each ``<module>[.<sub>].<Name>`` is defined at the top level of that
    module's source in the checkout; the source is parsed, never imported."""
    for type_name in sorted(set(types)):
        *parts, name = type_name.split(".")
        source = _source(modules, parts)
        if source is None or name not in _top_level_names(source):
            raise BuildError(
                f"the model file names {type_name}, which the project's declared modules do not define "
                "at their top level (checked in this commit's checkout)"
            )


def _source(modules: Mapping[str, Path], parts: list[str]) -> Path | None:
    root = modules.get(parts[0]) if parts else None
    if root is None:
        return None
    if root.is_file():
        return root if len(parts) == 1 else None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file() and candidate.resolve().is_relative_to(root.resolve()):
            return candidate
    return None


def _top_level_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise BuildError(f"{path.name} is not valid Python: {exc}") from exc
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names
