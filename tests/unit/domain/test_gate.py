import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.gate import GatePolicy, evaluate


def test_first_model_passes_without_champion() -> None:
    result = evaluate(GatePolicy("rmse"), {"rmse": 10.0}, None)
    assert result.passed
    assert "first model" in result.reason
    assert result.champion is None


@pytest.mark.parametrize(
    ("direction", "candidate", "champion", "tolerance", "passed"),
    [
        ("lower", 9.0, 10.0, 0.0, True),
        ("lower", 10.0, 10.0, 0.0, True),
        ("lower", 10.4, 10.0, 0.05, True),
        ("lower", 10.6, 10.0, 0.05, False),
        ("higher", 0.81, 0.80, 0.0, True),
        ("higher", 0.79, 0.80, 0.0, False),
        ("higher", 0.77, 0.80, 0.05, True),
        ("higher", 0.75, 0.80, 0.05, False),
    ],
)
def test_direction_and_tolerance(
    direction: str, candidate: float, champion: float, tolerance: float, passed: bool
) -> None:
    policy = GatePolicy("m", direction, tolerance)
    result = evaluate(policy, {"m": candidate}, {"m": champion}, "3")
    assert result.passed is passed
    assert result.champion_version == "3"
    assert result.delta == pytest.approx(candidate - champion)


def test_missing_metric_is_a_clear_failure_not_a_crash() -> None:
    result = evaluate(GatePolicy("rmse"), {"mae": 1.0, "r2": 0.5}, {"rmse": 3.0}, "1")
    assert not result.passed
    assert "no metric 'rmse'" in result.reason
    assert "mae, r2" in result.reason


def test_nan_candidate_fails() -> None:
    result = evaluate(GatePolicy("rmse"), {"rmse": math.nan}, {"rmse": 3.0}, "1")
    assert not result.passed
    assert "not a finite number" in result.reason


def test_champion_without_metric_passes_with_reason() -> None:
    result = evaluate(GatePolicy("rmse"), {"rmse": 3.0}, {"mae": 3.0}, "2")
    assert result.passed
    assert "champion (v2) has no usable rmse" in result.reason


@pytest.mark.parametrize(
    ("metric", "direction", "tolerance"),
    [("", "lower", 0), ("m", "down", 0), ("m", "lower", -0.1), ("m", "lower", math.inf)],
)
def test_bad_policy_is_refused(metric: str, direction: str, tolerance: float) -> None:
    with pytest.raises(ConfigError):
        GatePolicy(metric, direction, tolerance)


def test_policy_from_strings() -> None:
    assert GatePolicy.from_values(" r2 ", "HIGHER", "0.1") == GatePolicy("r2", "higher", 0.1)
    with pytest.raises(ConfigError, match="tolerance must be a number"):
        GatePolicy.from_values("r2", "higher", "ten")


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@given(candidate=finite, champion=finite, tolerance=st.floats(min_value=0, max_value=1))
def test_lower_gate_is_monotonic(candidate: float, champion: float, tolerance: float) -> None:
    policy = GatePolicy("m", "lower", tolerance)
    result = evaluate(policy, {"m": candidate}, {"m": champion}, "1")
    # A better-or-equal candidate always passes; the verdict agrees with the threshold.
    if candidate <= champion:
        assert result.passed
    assert result.passed == (candidate <= champion + abs(champion) * tolerance)


@given(candidate=finite, champion=finite)
def test_higher_gate_mirrors_lower(candidate: float, champion: float) -> None:
    higher = evaluate(GatePolicy("m", "higher"), {"m": candidate}, {"m": champion}, "1")
    lower = evaluate(GatePolicy("m", "lower"), {"m": -candidate}, {"m": -champion}, "1")
    assert higher.passed == lower.passed
