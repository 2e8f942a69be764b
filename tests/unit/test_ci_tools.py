"""A missing tool skips on a developer's machine and fails under CI=true (tests/ci.py)."""

from __future__ import annotations

import pytest

from tests.ci import unavailable


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true: no terraform"):
        unavailable("no terraform")


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_a_missing_tool_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="no terraform"):
        unavailable("no terraform")
