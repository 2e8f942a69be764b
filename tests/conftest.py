"""Every test belongs to its tier's xdist group (``make test`` runs ``-n 2 --dist loadgroup``).

A tier (``tests/asl``, ``tests/e2e``, ...) shares expensive package- and session-scoped
fixtures (an emulated stack, an MLflow server): one worker runs a whole tier, so each is
started once, while the other worker runs another tier beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def tier(path: Path) -> str:
    """The tier of a test file: its first folder under tests/ (``root`` for files at the top)."""
    parts = path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else "root"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(tier(Path(str(item.fspath)))))
