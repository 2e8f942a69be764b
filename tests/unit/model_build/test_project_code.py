"""The model project's own code and libraries: mlops.toml [serving] modules / requirements, the
skops trust they widen, clear load errors, the trusted step's by-name check, the training venv."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.model_build import project_code, train_venv, wheels
from mlops_pipeline.model_build.config import parse_config
from mlops_pipeline.model_build.errors import BuildError, ExportError
from mlops_pipeline.model_build.export import export_skops
from mlops_pipeline.model_build.skops_types import project_types, trusted_types
from mlops_pipeline.serving.runtime import Manifest, load_model

SCALER = textwrap.dedent(
    """
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin

    class Log1pScaler(TransformerMixin, BaseEstimator):
        def fit(self, x, y=None):
            self.shift_ = np.asarray(x).min(axis=0)
            return self

        def transform(self, x):
            return np.log1p(np.asarray(x) - self.shift_)
    """
)


def project(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_serving_modules_and_requirements_are_read(tmp_path: Path) -> None:
    project(tmp_path, **{"features.py": SCALER, "extra/__init__.py": ""})
    serving = {"modules": ["features", "extra"], "requirements": ["lightgbm==4.6.0", "pandas>=2.2,<3"]}
    config = parse_config({"serving": serving}, tmp_path)
    assert config.serving_modules == ("extra", "features")
    assert config.serving_requirements == ("lightgbm==4.6.0", "pandas>=2.2,<3")
    assert parse_config({}, tmp_path).serving_modules == ()


@pytest.mark.parametrize(
    ("serving", "words"),
    [
        ({"modules": ["missing"]}, "no missing.py"),
        ({"modules": ["numpy"]}, "top-level module"),  # would shadow the serving set
        ({"modules": ["serving"]}, "top-level module"),
        ({"modules": ["a.b"]}, "top-level module"),
        ({"modules": "features"}, "list of module names"),
        ({"requirements": ["x @ https://evil.example/x.whl"]}, "no URLs"),
        ({"requirements": ["--index-url=https://evil.example"]}, "no URLs"),
        ({"requirements": ["./wheels/x.whl"]}, "no URLs"),
        ({"requirements": "lightgbm"}, "list of requirement strings"),
    ],
)
def test_invalid_serving_code_settings_are_refused(
    tmp_path: Path, serving: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config({"serving": serving}, tmp_path)


def test_project_types_are_trusted_only_from_declared_modules() -> None:
    found = ["numpy.dtype", "features.Log1pScaler"]
    with pytest.raises(ExportError, match=r"features\.Log1pScaler.*\[serving\] modules = \['features'\]"):
        trusted_types(found)
    assert trusted_types(found, ["features"]) == ("features.Log1pScaler", "numpy.dtype")
    assert project_types(found, ["features"]) == ("features.Log1pScaler",)
    # Declaring a module widens nothing else: callables stay refused, look-alikes too.
    with pytest.raises(ExportError, match="FunctionTransformer"):
        trusted_types(["sklearn.preprocessing._function_transformer.FunctionTransformer"], ["features"])
    with pytest.raises(ExportError, match=r"featuresx\.Evil"):
        trusted_types(["featuresx.Evil"], ["features"])


def test_a_class_of_the_training_script_is_refused_with_what_to_do() -> None:
    with pytest.raises(
        ExportError, match=r"Log1pScaler is defined in the training script.*move it to a module"
    ):
        trusted_types(["__main__.Log1pScaler"], ["features"])


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            AttributeError("Can't get attribute 'MyScaler' on <module '__main__' from 'x'>"),
            "class MyScaler, defined in train.py",
        ),
        (ValueError("cannot import __main__.MyScaler"), "class MyScaler, defined in train.py"),
        (
            AttributeError("module '__main__' has no attribute 'MyScaler'"),
            "class MyScaler, defined in train.py",
        ),
        (
            ModuleNotFoundError("No module named 'feats.core'"),
            r"module 'feats.core'.*\[serving\] modules = \[\"feats\"\]",
        ),
        (RuntimeError("disk on fire"), "could not be loaded for export: .*RuntimeError: disk on fire"),
    ],
)
def test_load_failures_become_clear_build_errors(error: Exception, words: str) -> None:
    try:
        raise RuntimeError("wrapper") from error
    except RuntimeError as exc:
        explained = project_code.explain_load_failure(exc, "train.py")
    assert isinstance(explained, BuildError)
    assert re.search(words, str(explained))


def test_the_trusted_check_reads_the_source_and_never_imports_it(tmp_path: Path) -> None:
    # Importing this module would raise: the check must only parse it.
    project(tmp_path, **{"features.py": "raise SystemExit('imported')\nclass A: ...\nB = A\n"})
    project(tmp_path, **{"pkg/__init__.py": "", "pkg/core.py": "def f(): ...\n"})
    modules = {"features": tmp_path / "features.py", "pkg": tmp_path / "pkg"}
    project_code.check_defined(["features.A", "features.B", "pkg.core.f"], modules)
    for missing in ("features.C", "pkg.core.g", "pkg.other.f", "features.sub.A"):
        with pytest.raises(BuildError, match=missing.replace(".", r"\.")):
            project_code.check_defined([missing], modules)


@pytest.fixture
def feature_module(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A uniquely named project module (so nothing else in this process imports it)."""
    name = f"features_{uuid.uuid4().hex[:8]}"
    source = project(tmp_path / "src", **{f"{name}.py": SCALER}) / f"{name}.py"
    sys.path.append(str(source.parent))
    try:
        yield name, source
    finally:
        sys.path.remove(str(source.parent))
        sys.modules.pop(name, None)


def test_a_skops_model_with_project_classes_ships_them_and_serves(
    tmp_path: Path, feature_module: tuple[str, Path]
) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    name, source = feature_module
    module = __import__(name)
    rows = np.random.default_rng(0).uniform(1, 5, size=(40, 2))
    model = make_pipeline(module.Log1pScaler(), Ridge()).fit(rows, rows.sum(axis=1))
    out = tmp_path / "export"
    manifest = export_skops(model, ["a", "b"], out, 100, {name: source})
    assert manifest.project_code == (name,)
    assert f"{name}.Log1pScaler" in manifest.trusted_types
    assert (out / "code" / f"{name}.py").read_text() == SCALER
    # Served from the export alone: the module comes from code/, not from where it was written.
    sys.path.remove(str(source.parent))
    sys.modules.pop(name)
    try:
        served = load_model(out).predict(rows)
    finally:
        sys.path.remove(str(out / "code"))
        sys.path.append(str(source.parent))
    np.testing.assert_allclose(served.values, model.predict(rows), rtol=1e-12)


def test_a_skops_model_without_project_classes_ships_no_code(tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    model = Ridge().fit(np.eye(3), [1.0, 2.0, 3.0])
    manifest = export_skops(model, ["a", "b", "c"], tmp_path / "x", 10, {"features": tmp_path / "f.py"})
    assert manifest.project_code == () and not (tmp_path / "x" / "code").exists()
    data = Manifest.from_dict(json.loads((tmp_path / "x" / "serving.json").read_text()))
    assert data.project_code == ()


def test_serving_requirements_may_not_replace_the_serving_set() -> None:
    assert wheels.requirement_names(["LightGBM==4.6.0", "py_thing>=1"]) == ["lightgbm", "py-thing"]
    for provided in ("numpy>=2", "scikit_learn==1.0", "onnxruntime"):
        with pytest.raises(BuildError, match="part of the pipeline's serving set"):
            wheels.requirement_names([provided])


def test_serving_requirements_locally_are_the_installed_packages_and_their_dependencies() -> None:
    closure = wheels.installed_closure(["pytest"], skip=["packaging"])
    assert "pytest" in closure and "pluggy" in closure and "packaging" not in closure
    assert "pytest" in wheels.installed_top_level(["pytest"])
    with pytest.raises(BuildError, match="not installed here"):
        wheels.installed_closure(["surely-not-installed-xyz"], skip=[])


def test_the_top_level_names_of_requirement_wheels(tmp_path: Path) -> None:
    for dist, entries in {
        "lib": ["lib/__init__.py", "lib.libs/x.so"],
        "numpy": ["numpy/__init__.py"],
    }.items():
        with zipfile.ZipFile(tmp_path / f"{dist}-1-py3-none-any.whl", "w") as wheel:
            for entry in [*entries, f"{dist}-1.dist-info/RECORD", f"{dist}-1.data/scripts/run"]:
                wheel.writestr(entry, "")
    assert wheels.wheel_top_level(tmp_path, skip=["numpy"]) == {"lib", "lib.libs"}


def test_training_uses_the_pipelines_python_without_requirements(tmp_path: Path) -> None:
    assert train_venv.training_python(tmp_path, "/usr/bin/python3", {}) == train_venv.TrainPython(
        "/usr/bin/python3"
    )
    (tmp_path / "requirements.txt").write_text("packaging\n")
    off = {"MLOPS_TRAIN_VENV": "0", "MLOPS_TRAIN_VENV_CACHE": str(tmp_path / "cache")}
    assert train_venv.training_python(tmp_path, sys.executable, off).python == sys.executable
    assert not (tmp_path / "cache").exists()


def test_requirements_are_installed_once_in_a_venv_keyed_by_the_files_hash(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("packaging\n")  # satisfied by the pipeline's own
    env = {"MLOPS_TRAIN_VENV_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    notes: list[str] = []
    first = train_venv.training_python(tmp_path, sys.executable, env, notes.append)
    again = train_venv.training_python(tmp_path, sys.executable, env, notes.append)
    assert first == again and first.python != sys.executable and Path(first.python).exists()
    assert [n.split(" ")[0] for n in notes] == ["installing", "requirements.txt:"]  # reused
    import subprocess

    seen = subprocess.run(
        [first.python, "-c", "import sys, mlflow; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert seen.stdout.strip() == str(Path(first.python).parent.parent)  # the venv, with our packages
    (tmp_path / "requirements.txt").write_text("packaging\n# changed\n")
    assert train_venv.training_python(tmp_path, sys.executable, env).python != first.python


def test_a_failing_requirements_install_is_a_build_error_and_leaves_no_venv(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("--no-index\nsurely-not-a-package-xyz==1\n")
    env = {"MLOPS_TRAIN_VENV_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    with pytest.raises(BuildError, match=r"pip install -r requirements\.txt failed"):
        train_venv.training_python(tmp_path, sys.executable, env)
    assert [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def _train_manifest(columns: list[str]) -> Any:
    from mlops_pipeline.model_build.train_output import TrainManifest

    return TrainManifest(
        model_name="m",
        columns=tuple(columns),
        metrics=(),
        params={},
        tags={},
        logged_model_name="model",
        smoke_input=None,
        flavor="skops",
        fallback_reason=None,
    )


def test_the_trusted_step_ships_the_checkouts_modules_and_never_the_training_outputs(
    tmp_path: Path, feature_module: tuple[str, Path]
) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from mlops_pipeline.model_build.register_step import _serving_manifest

    name, source = feature_module
    rows = np.random.default_rng(1).uniform(1, 5, size=(30, 2))
    model = make_pipeline(__import__(name).Log1pScaler(), Ridge()).fit(rows, rows[:, 0])
    export = tmp_path / "export"
    export_skops(model, ["a", "b"], export, 100, {name: source})
    # A compromised training step swaps the shipped code and adds requirements and files.
    (export / "code" / f"{name}.py").write_text("import os; os.system('evil')\n")
    (export / "planted.txt").write_text("x")
    data = json.loads((export / "serving.json").read_text())
    (export / "serving.json").write_text(json.dumps({**data, "serving_requirements": ["evil==1"]}))
    checkout = source.parent
    config = parse_config({"serving": {"modules": [name]}}, checkout)
    serving = _serving_manifest(export, _train_manifest(["a", "b"]), config)
    assert serving.project_code == (name,)
    assert (export / "code" / f"{name}.py").read_text() == SCALER  # the checkout's copy
    assert sorted(p.name for p in export.iterdir()) == ["code", "model.skops", "serving.json"]
    assert json.loads((export / "serving.json").read_text())["serving_requirements"] == []
    refused = parse_config({}, checkout)  # the checkout declares no module: the class is refused
    with pytest.raises(ExportError, match=rf"{name}\.Log1pScaler"):
        _serving_manifest(export, _train_manifest(["a", "b"]), refused)
    # A class the checkout's module does not define is refused by name.
    source.write_text(SCALER.replace("class Log1pScaler", "class Renamed"))
    with pytest.raises(BuildError, match="do not define"):
        _serving_manifest(export, _train_manifest(["a", "b"]), config)


def test_serving_requirements_for_lambda_resolve_their_dependencies_within_the_pins(tmp_path: Path) -> None:
    cmd = wheels.download_command(["lightgbm==4.6.0"], tmp_path, "arm64", constraints=tmp_path / "c.txt")
    assert "--no-deps" not in cmd and cmd[cmd.index("--constraint") + 1] == str(tmp_path / "c.txt")
    assert "--only-binary=:all:" in cmd and "manylinux_2_28_aarch64" in cmd  # wheels only: nothing runs
    assert "--no-deps" in wheels.download_command(["numpy==2.4.6"], tmp_path, "arm64")
    seen: list[str] = []

    def pip(command: list[str], **_: Any) -> Any:
        import subprocess

        seen.append(Path(command[command.index("--constraint") + 1]).read_text())
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "lightgbm-4.6.0-py3-none-manylinux_2_28_aarch64.whl", "w") as wheel:
            wheel.writestr("lightgbm/__init__.py", "")
        return subprocess.CompletedProcess(command, 0, "", "")

    got = wheels.fetch_wheels(
        ["lightgbm==4.6.0"], "arm64", tmp_path / "c", runner=pip, constraints=["numpy==2.4.6"]
    )
    assert seen == ["numpy==2.4.6\n"] and not (got / "constraints.txt").exists()
    assert wheels.wheel_top_level(got) == {"lightgbm"}
    # Other pins are another cache entry.
    other = wheels.fetch_wheels(
        ["lightgbm==4.6.0"], "arm64", tmp_path / "c", runner=pip, constraints=["numpy==2.5"]
    )
    assert other != got and len(seen) == 2
