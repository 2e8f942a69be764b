"""Serving benchmark: the original handler, MLflow pyfunc, our fallback and our default path,
and our default path serving a gradient-boosting model.

Trains the sample model (seed_code/train.py's recipe, no MLflow server needed) and a
GradientBoostingRegressor on the same training rows, prepares the five variants side by side in
a temporary folder (ours: the build's own zip, host platform, unpacked and run from its task
root as the emulator's Lambda runtime runs it), and measures for each:

* cold start: a fresh Python process from spawn to the first response (median of N runs);
* warm single-row latency p50/p99 in one process (the handler call, after 200 warm-up calls),
  alternating with the floor call (the runtime's own call on a ready row) so both see the same load;
* 1,000-row batch throughput (rows/s, median of repeated calls);
* peak RSS of the warm process (VmHWM);
* package size: ours, the unzipped size of the zip (runtime, model and serving set);
  the others, the installed files (from each distribution's RECORD) of the packages the
  variant imports plus their declared dependencies (Requires-Dist without extras), recursively.

It prints a table, the ratios against the default path, whether the targets hold (default
cold start <= 0.2 s; default warm p50 <= 1.5x the runtime's own ``run`` floor), and ends with
one machine-readable line:
``serving: cold_ms=<median> warm_p50_us=<p50> floor_us=<floor> original_cold_ms=<median> original_warm_p50_us=<p50>
gbm_cold_ms=<median> gbm_warm_p50_us=<p50> gbm_floor_us=<floor>`` (one line).

Run: ``python benchmarks/serving.py [--cold-runs 5] [--warm-calls 2000]`` (a few minutes at most).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SEED = REPO / "seed_code"
COLD_TARGET_MS = 200.0
WARM_FLOOR_FACTOR = 1.5
BATCH_ROWS = 1000

# What each variant imports at run time (the roots of its package closure).
VARIANT_PACKAGES: dict[str, tuple[str, ...]] = {
    "original": ("scikit-learn", "pandas"),
    "mlflow_pyfunc": ("mlflow",),
    "fallback": ("skops", "scikit-learn", "numpy"),
    "default": ("onnxruntime", "numpy"),
    "gbm": ("onnxruntime", "numpy"),
}
VARIANT_TITLES = {
    "original": "original (pickle+pandas+sklearn)",
    "mlflow_pyfunc": "MLflow pyfunc",
    "fallback": "ours, fallback (skops)",
    "default": "ours, default (ONNX)",
    "gbm": "ours, gradient boosting",
}
# Our variants: the build's zips, served by serving.handler.
OURS = ("fallback", "default", "gbm")

# --------------------------------------------------------------------------- helpers


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sample")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    names = []
    for requirement in dist.requires or []:
        name, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue  # optional extras are not installed for serving
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
        if match:
            names.append(match.group(1))
    return names


def package_closure(roots: Iterable[str]) -> set[str]:
    """Installed distributions reachable from ``roots`` through Requires-Dist (no extras)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a dependency for another platform or Python version
        seen.add(key)
        todo.extend(_requirement_names(dist))
    return seen


def installed_bytes(names: Iterable[str]) -> int:
    """Sum of the sizes of the installed files of these distributions (RECORD entries)."""
    total = 0
    for name in names:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total


# --------------------------------------------------------------------------- variants

ORIGINAL_HANDLER = """
import pickle, pandas as pd
with open(MODEL_PATH, "rb") as f:
    MODEL = pickle.load(f)
def handler(event, context=None):
    frame = pd.DataFrame(event["inputs"])
    return {"statusCode": 200, "predictions": MODEL.predict(frame).tolist()}
"""

PYFUNC_HANDLER = """
import mlflow.pyfunc, pandas as pd
MODEL = mlflow.pyfunc.load_model(MODEL_PATH)
def handler(event, context=None):
    frame = pd.DataFrame(event["inputs"])
    return {"statusCode": 200, "predictions": [float(v) for v in MODEL.predict(frame)]}
"""

# Runs in the child: import the variant's handler, answer once (cold), then measure warm.
DRIVER = textwrap.dedent(
    r"""
    import json, os, sys, time
    variant, task_root, mode, single_json, batch_json, calls = sys.argv[1:7]
    ours = variant in ("fallback", "default", "gbm")
    if ours:
        # The serving zip has neither pandas nor MLflow: make them absent here too.
        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pandas", "mlflow"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None
        sys.meta_path.insert(0, NotInstalled())
    sys.path.insert(0, task_root)
    from importlib import import_module
    handler = import_module("serving.handler" if ours else "bench_handler").handler
    single, batch = json.loads(single_json), json.loads(open(batch_json).read())
    first = handler(single)
    assert first["statusCode"] == 200, first
    print("READY " + json.dumps(first["predictions"]), flush=True)
    if mode == "cold":
        sys.exit(0)
    fn = None
    if ours:
        import numpy as np
        service = import_module("serving.handler")._SERVICE
        row = np.array([[float(v) for v in single["inputs"].values()]])
        if hasattr(service.predictor, "session"):  # served by onnxruntime
            session = service.predictor.session; name = service.predictor.manifest.input_name
            fn = lambda: session.run(None, {name: row})
        else:
            model = service.predictor.model
            fn = lambda: model.predict(row)
    for _ in range(200):  # warm-up, not measured
        handler(single)
        if fn is not None:
            fn()
    # Handler call and floor call alternate, so that both see the same machine load.
    warm, floor = [], []
    for _ in range(int(calls)):
        t = time.perf_counter_ns(); handler(single); warm.append(time.perf_counter_ns() - t)
        if fn is not None:
            t = time.perf_counter_ns(); fn(); floor.append(time.perf_counter_ns() - t)
    batch_times = []
    for _ in range(20):
        t = time.perf_counter_ns(); out = handler(batch); batch_times.append(time.perf_counter_ns() - t)
    assert len(out["predictions"]) == len(next(iter(batch["inputs"].values())) if isinstance(batch["inputs"], dict) else batch["inputs"])
    leaked = sorted({m.split(".")[0] for m in sys.modules} & {"mlflow", "pandas", "sklearn", "onnxruntime", "skops"})
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (big) parent process.
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"warm_ns": warm, "batch_ns": batch_times, "floor_ns": floor,
                      "maxrss_kb": hwm, "modules": leaked}))
    """
)


@dataclass
class Result:
    variant: str
    cold_ms: list[float]
    warm_p50_us: float
    warm_p99_us: float
    batch_rows_per_s: float
    rss_mib: float
    package_mib: float
    floor_us: float | None
    modules: list[str]
    zip_mib: float | None = None
    flavor: str = ""  # ours: onnx or skops


def _load_seed_train() -> Any:
    spec = importlib.util.spec_from_file_location("seed_train", SEED / "train.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ours(variant: str, model: Any, columns: list[str], root: Path, rows: Any) -> tuple[Path, float, str]:
    """The build's zip of ``model`` (host platform, as the local build makes it), unpacked; its
    MiB and flavour. ``gbm`` goes through the build's own choice (export_model: ONNX when it
    converts and passes parity on ``rows``, else skops), the others through the named flavour."""
    from mlops_pipeline.model_build import artifact, bundle
    from mlops_pipeline.model_build.export import export_model, export_onnx, export_skops

    if variant == "gbm":
        exported = export_model(model, columns, rows, root / f"{variant}-model")
        flavor = exported.flavor
        print(f"gradient boosting exported as {flavor} {exported.fallback_reason or ''}", file=sys.stderr)
    else:
        flavor = "onnx" if variant == "default" else "skops"
        export = export_onnx if flavor == "onnx" else export_skops
        export(model, columns, root / f"{variant}-model", max_rows=10_000)
    settings = artifact.ArtifactSettings(platform="host")
    staged = artifact.stage(
        settings, flavor, root / f"{variant}-model", root / f"{variant}-build", "zip", print
    )
    bundle.name_model(staged.task_root, "delivery-time", "1")
    written = bundle.write_zip(staged.task_root, root / f"{variant}.zip", bundle.LOCAL_ZIP_COMPRESSLEVEL)
    task = root / variant
    with zipfile.ZipFile(written.path) as archive:
        archive.extractall(task)  # what the emulator's Lambda runtime does with a zip function
    return task, written.size / 2**20, flavor


def prepare(root: Path) -> tuple[dict[str, Path], list[str], Any, dict[str, tuple[float, str]]]:
    """Train the sample models and lay out one task root per variant (and the zips' MiB and flavour)."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsRegressor

    train = _load_seed_train()
    features, target = train.load_data(SEED / "data/data.csv")
    x_train, x_test, y_train, _ = train_test_split(features, target, test_size=0.2, random_state=42)
    x_routes, y_routes = train.route_means(x_train, y_train)
    model = KNeighborsRegressor(n_neighbors=1).fit(x_routes, y_routes)
    # A common model a data scientist brings instead: 100 depth-3 trees on the training rows.
    boosted = GradientBoostingRegressor(random_state=0).fit(x_train, y_train)
    columns = list(train.FEATURES)
    parity_rows = x_test[columns].to_numpy(dtype="float64")
    roots: dict[str, Path] = {}
    zips: dict[str, tuple[float, str]] = {}
    for variant in VARIANT_PACKAGES:
        if variant in OURS:
            task, mib, flavor = ours(
                variant, boosted if variant == "gbm" else model, columns, root, parity_rows
            )
            roots[variant], zips[variant] = task, (mib, flavor)
            continue
        task = root / variant
        task.mkdir()
        roots[variant] = task
        if variant == "original":
            (task / "model.pkl").write_bytes(pickle.dumps(model))
            (task / "bench_handler.py").write_text(
                f"MODEL_PATH = {str(task / 'model.pkl')!r}\n" + ORIGINAL_HANDLER
            )
        else:
            import mlflow.sklearn

            mlflow.sklearn.save_model(model, task / "model", skops_trusted_types=train.trusted_types(model))
            (task / "bench_handler.py").write_text(f"MODEL_PATH = {str(task / 'model')!r}\n" + PYFUNC_HANDLER)
    return roots, columns, x_test, zips


def run_child(
    variant: str, task: Path, mode: str, single: dict[str, Any], batch_file: Path, calls: int
) -> tuple[float, dict[str, Any] | None]:
    """Spawn a fresh process; return (ms to the first response, warm stats or None)."""
    args = [
        sys.executable,
        "-c",
        DRIVER,
        variant,
        str(task),
        mode,
        json.dumps(single),
        str(batch_file),
        str(calls),
    ]
    # No thread settings here: our runtime sets its own defaults (serving/__init__.py), the
    # other variants run as they were written; the model's name comes from the zip's manifest.
    env = {"PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=task, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    cold_ms = (time.perf_counter() - started) * 1000
    rest, err = process.communicate(timeout=600)
    if not first.startswith("READY") or process.returncode != 0:
        raise RuntimeError(f"{variant} failed: {first}{rest}{err[-2000:]}")
    return cold_ms, (json.loads(rest.strip().splitlines()[-1]) if mode == "warm" else None)


def tree_mib(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def measure(
    variant: str, task: Path, single: dict[str, Any], batch_file: Path, cold_runs: int, calls: int
) -> Result:
    cold = [run_child(variant, task, "cold", single, batch_file, calls)[0] for _ in range(cold_runs)]
    _, stats = run_child(variant, task, "warm", single, batch_file, calls)
    assert stats is not None
    warm_us = [ns / 1000 for ns in stats["warm_ns"]]
    batch_s = statistics.median(stats["batch_ns"]) / 1e9
    floor = statistics.median(ns / 1000 for ns in stats["floor_ns"]) if stats["floor_ns"] else None
    return Result(
        variant=variant,
        cold_ms=cold,
        warm_p50_us=percentile(warm_us, 50),
        warm_p99_us=percentile(warm_us, 99),
        batch_rows_per_s=BATCH_ROWS / batch_s,
        rss_mib=stats["maxrss_kb"] / 1024,
        package_mib=tree_mib(task)
        if variant in OURS
        else installed_bytes(package_closure(VARIANT_PACKAGES[variant])) / 2**20,
        floor_us=floor,
        modules=stats["modules"],
    )


def report(results: dict[str, Result]) -> list[str]:
    """The table, ratios and target verdicts as lines (the last one machine-readable)."""
    lines = [
        f"{'variant':34} {'cold ms':>8} {'warm p50 us':>11} {'p99 us':>8} {'batch rows/s':>12} "
        f"{'RSS MiB':>8} {'pkgs MiB':>8}  imported",
    ]
    for name, r in results.items():
        lines.append(
            f"{VARIANT_TITLES[name]:34} {statistics.median(r.cold_ms):8.0f} {r.warm_p50_us:11.1f} "
            f"{r.warm_p99_us:8.1f} {r.batch_rows_per_s:12.0f} {r.rss_mib:8.0f} {r.package_mib:8.0f}  "
            + ",".join(r.modules)
        )
    default, original = results["default"], results["original"]
    d_cold = statistics.median(default.cold_ms)
    lines.append("ratios against the default path (x times slower / bigger):")
    for name, r in results.items():
        if name == "default":
            continue
        lines.append(
            f"  {VARIANT_TITLES[name]:34} cold {statistics.median(r.cold_ms) / d_cold:5.1f}x  "
            f"warm {r.warm_p50_us / default.warm_p50_us:5.1f}x  RSS {r.rss_mib / default.rss_mib:4.1f}x  "
            f"packages {r.package_mib / default.package_mib:4.1f}x"
        )
    for name in OURS:
        if name in results and results[name].zip_mib is not None:
            lines.append(
                f"{VARIANT_TITLES[name]}: {results[name].flavor or '?'}, zip {results[name].zip_mib:.0f} MiB, "
                f"{results[name].package_mib:.0f} MiB unzipped"
            )
    floor = default.floor_us or float("nan")
    fallback_floor = results["fallback"].floor_us
    if fallback_floor is not None:
        lines.append(
            f"floors: onnxruntime run {floor:.1f} us, sklearn predict {fallback_floor:.1f} us (single row)"
        )
    gbm = results.get("gbm")
    if gbm is not None and gbm.floor_us is not None:
        lines.append(f"gradient boosting floor ({gbm.flavor or '?'}): {gbm.floor_us:.1f} us (single row)")
    cold_ok = d_cold <= COLD_TARGET_MS
    warm_ok = default.warm_p50_us <= WARM_FLOOR_FACTOR * floor
    lines.append(
        f"target default cold start <= {COLD_TARGET_MS:.0f} ms: {'HOLDS' if cold_ok else 'MISSED'} "
        f"({d_cold:.0f} ms)"
    )
    lines.append(
        f"target default warm p50 <= {WARM_FLOOR_FACTOR}x floor: {'HOLDS' if warm_ok else 'MISSED'} "
        f"({default.warm_p50_us:.1f} us vs {WARM_FLOOR_FACTOR * floor:.1f} us)"
    )
    last = (
        f"serving: cold_ms={d_cold:.0f} warm_p50_us={default.warm_p50_us:.0f} floor_us={floor:.0f} "
        f"original_cold_ms={statistics.median(original.cold_ms):.0f} "
        f"original_warm_p50_us={original.warm_p50_us:.0f}"
    )
    if gbm is not None:
        last += (
            f" gbm_cold_ms={statistics.median(gbm.cold_ms):.0f} gbm_warm_p50_us={gbm.warm_p50_us:.0f} "
            f"gbm_floor_us={gbm.floor_us or float('nan'):.0f}"
        )
    lines.append(last)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serving benchmark (see the module docstring).")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--warm-calls", type=int, default=2000)
    parser.add_argument("--variants", default=",".join(VARIANT_PACKAGES))
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        root = Path(tmp)
        print("preparing the sample models and the five variants ...", file=sys.stderr)
        roots, columns, x_test, zips = prepare(root)
        row = x_test.iloc[0]
        single = {"inputs": {c: [float(row[c])] for c in columns}}
        ours_single = {"inputs": {c: float(row[c]) for c in columns}}
        rows = x_test.sample(n=BATCH_ROWS, replace=True, random_state=0)
        batch_file = root / "batch.json"
        batch_file.write_text(json.dumps({"inputs": {c: rows[c].astype(float).tolist() for c in columns}}))
        results: dict[str, Result] = {}
        for variant in variants:
            print(f"measuring {VARIANT_TITLES[variant]} ...", file=sys.stderr)
            request = ours_single if variant in OURS else single
            results[variant] = measure(
                variant, roots[variant], request, batch_file, args.cold_runs, args.warm_calls
            )
            if variant in zips:
                results[variant].zip_mib, results[variant].flavor = zips[variant]
    if set(results) != set(VARIANT_PACKAGES):
        for name, r in results.items():
            print(name, r)
        return 0
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for line in report(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
