"""The layout holds: imports go one way, every source file is linted, no source file grows past 500 lines.

Each rule is checked by a small function that also runs on a synthetic tree here, so a rule
that could never fail (a typo in a prefix, a walker that finds nothing) fails its own test.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "mlops_pipeline"
MAX_LINES = 500

# (the importing package, the packages it may not import, why)
RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "mlops_pipeline.domain",
        (
            "mlops_pipeline.adapters",
            "mlops_pipeline.handlers",
            "mlops_pipeline.local",
            "mlops_pipeline.cli",
            "mlops_pipeline.model_build",
            "boto3",
            "botocore",
            "mlflow",
            "slack_sdk",
            "aws_lambda_powertools",
        ),
        "the domain is pure logic behind the ports",
    ),
    (
        "mlops_pipeline.ports",
        ("mlops_pipeline.adapters", "mlops_pipeline.handlers", "mlops_pipeline.local"),
        "ports speak the domain's language only",
    ),
    (
        "mlops_pipeline.handlers",
        ("mlops_pipeline.local", "mlops_pipeline.cli"),
        "handlers run on AWS, where no local stack exists",
    ),
    (
        "mlops_pipeline.adapters",
        ("mlops_pipeline.handlers", "mlops_pipeline.local", "mlops_pipeline.cli"),
        "adapters serve the handlers, never the other way round",
    ),
    (
        "mlops_pipeline.local.emulator",
        ("mlops_pipeline.local.stack", "mlops_pipeline.cli"),
        "the emulator knows nothing of the stack that uses it",
    ),
)


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, src: Path) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Each import statement of a file, at any depth (lazy imports inside functions included),
    as its line and the modules it may load."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, src)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node.lineno, tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from mlops_pipeline.local import stack` may load the submodule too.
            yield node.lineno, (target, *(f"{target}.{alias.name}" for alias in node.names))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(src: Path, rules: tuple[tuple[str, tuple[str, ...], str], ...] = RULES) -> list[str]:
    found = []
    for path in sorted(src.rglob("*.py")):
        importer = module_name(path, src)
        for owner, forbidden, why in rules:
            if not _within(importer, owner):
                continue
            for line, targets in imported_modules(path, src):
                hit = next((t for t in targets if any(_within(t, f) for f in forbidden)), None)
                if hit is not None:
                    found.append(f"{path.relative_to(src)}:{line} imports {hit} ({why})")
    return sorted(set(found))


def test_imports_go_one_way() -> None:
    assert violations(SRC) == []


def test_every_rule_names_a_package_that_exists() -> None:
    for owner, _, _ in RULES:
        relative = Path(*owner.split("."))
        assert (SRC / relative).is_dir() or (SRC / relative).with_suffix(".py").is_file(), owner


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        (
            "domain/gate.py",
            "from mlops_pipeline.adapters.slack import views\n",
            "imports mlops_pipeline.adapters",
        ),
        ("domain/gate.py", "def f():\n    import boto3\n", "imports boto3"),
        ("handlers/deploy.py", "from mlops_pipeline.local import stack\n", "imports mlops_pipeline.local"),
        ("local/emulator/events.py", "from ..stack import demo\n", "imports mlops_pipeline.local.stack"),
        ("local/emulator/events.py", "from mlops_pipeline.local import stack\n", "local.stack"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, file: str, source: str, expected: str) -> None:
    path = tmp_path / PACKAGE / file
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found


def test_an_allowed_import_is_not_flagged(tmp_path: Path) -> None:
    path = tmp_path / PACKAGE / "local" / "stack" / "demo.py"
    path.parent.mkdir(parents=True)
    path.write_text(
        "from mlops_pipeline.local.emulator import events\nfrom mlops_pipeline.domain import gate\n"
    )
    assert violations(tmp_path) == []


def python_files(src: Path) -> set[str]:
    return {str(p.relative_to(ROOT)) for p in src.rglob("*.py")}


def ruff_linted_files() -> set[str]:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (make setup installs it)"
    out = subprocess.run(
        [ruff, "check", "src", "--show-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {str(Path(line.strip()).resolve().relative_to(ROOT)) for line in out.splitlines() if line.strip()}


def test_ruff_lints_every_source_file() -> None:
    # Ruff skips directories named like build/ or dist/ by default: a package with such a name
    # would silently go unlinted. Comparing the two lists catches that and any exclude typo.
    expected = python_files(SRC)
    assert len(expected) > 50
    assert expected - ruff_linted_files() == set()


def oversized(src: Path, limit: int = MAX_LINES) -> dict[str, int]:
    sizes = {str(p.relative_to(src)): len(p.read_text().splitlines()) for p in src.rglob("*.py")}
    return {name: n for name, n in sizes.items() if n > limit}


def test_no_source_file_is_over_500_lines() -> None:
    assert oversized(SRC) == {}


def test_the_size_check_sees_a_large_file(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "small.py").write_text("x = 1\n")
    assert oversized(tmp_path) == {"big.py": MAX_LINES + 1}
