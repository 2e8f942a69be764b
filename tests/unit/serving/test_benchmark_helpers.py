"""The serving benchmark's measurement helpers (the benchmark itself is not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks/serving.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serving_benchmark", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_percentile_is_nearest_rank(bench: ModuleType) -> None:
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 99) == 99
    assert bench.percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError, match="empty"):
        bench.percentile([], 50)


def test_package_closure_follows_declared_dependencies(bench: ModuleType) -> None:
    closure = bench.package_closure(["onnxruntime"])
    assert {"onnxruntime", "numpy", "protobuf"} <= closure
    assert "mlflow" not in closure and "pandas" not in closure
    assert "sympy" not in closure  # an extra, not installed for serving


def test_installed_bytes_grow_with_the_closure(bench: ModuleType) -> None:
    small = bench.installed_bytes({"numpy"})
    assert small > 1_000_000
    assert bench.installed_bytes({"numpy", "onnxruntime"}) > small


def test_report_ends_with_the_machine_readable_line(bench: ModuleType) -> None:
    def result(name: str, cold: float, warm: float, floor: float | None) -> object:
        return bench.Result(name, [cold, cold + 10, cold - 10], warm, warm * 3, 1e5, 50.0, 100.0, floor, [])

    results = {
        "original": result("original", 1100, 1900, None),
        "mlflow_pyfunc": result("mlflow_pyfunc", 3000, 2500, None),
        "fallback": result("fallback", 900, 390, 420),
        "default": result("default", 130, 120, 100),
    }
    lines = bench.report(results)
    assert lines[-1] == (
        "serving: cold_ms=130 warm_p50_us=120 floor_us=100 original_cold_ms=1100 original_warm_p50_us=1900"
    )
    assert any("cold start <= 200 ms: HOLDS" in line for line in lines)
    assert any("1.5x floor: HOLDS" in line for line in lines)
    results["default"] = result("default", 250, 160, 100)
    lines = bench.report(results)
    assert any("cold start <= 200 ms: MISSED" in line for line in lines)
    assert any("1.5x floor: MISSED" in line for line in lines)


def test_report_adds_the_gradient_boosting_model_with_its_flavour(bench: ModuleType) -> None:
    def result(name: str, cold: float, warm: float, floor: float | None, flavor: str = "") -> object:
        out = bench.Result(name, [cold], warm, warm * 3, 1e5, 50.0, 100.0, floor, [], 40.0)
        out.flavor = flavor
        return out

    results = {
        "original": result("original", 1100, 1900, None),
        "mlflow_pyfunc": result("mlflow_pyfunc", 3000, 2500, None),
        "fallback": result("fallback", 900, 390, 420, "skops"),
        "default": result("default", 130, 120, 100, "onnx"),
        "gbm": result("gbm", 150, 40, 30, "onnx"),
    }
    lines = bench.report(results)
    assert any(line.startswith("ours, gradient boosting") and " 40.0 " in line for line in lines)
    assert "ours, gradient boosting: onnx, zip 40 MiB, 100 MiB unzipped" in lines
    assert lines[-1].endswith(" original_warm_p50_us=1900 gbm_cold_ms=150 gbm_warm_p50_us=40 gbm_floor_us=30")
