"""The promotion gate: is the candidate good enough compared with the champion?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.domain.errors import ConfigError

DIRECTIONS = ("lower", "higher")


@dataclass(frozen=True)
class GatePolicy:
    """Metric, which direction is better, and how much worse than the champion is tolerated.

    ``tolerance`` is relative to the champion's value: 0.05 lets a candidate be up to 5 %
    worse. 0 means "at least as good".
    """

    metric: str
    direction: str = "lower"
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if not self.metric or not self.metric.strip():
            raise ConfigError("gate metric must be a non-empty metric name")
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"gate direction must be one of {', '.join(DIRECTIONS)}, not {self.direction!r}"
            )
        if not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise ConfigError(f"gate tolerance must be a finite number >= 0, not {self.tolerance!r}")

    @classmethod
    def from_values(cls, metric: str, direction: str, tolerance: str | float) -> GatePolicy:
        try:
            tol = float(tolerance)
        except (TypeError, ValueError):
            raise ConfigError(f"gate tolerance must be a number, not {tolerance!r}") from None
        return cls(metric=metric.strip(), direction=direction.strip().lower(), tolerance=tol)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    metric: str
    direction: str
    tolerance: float
    candidate: float | None
    champion: float | None
    champion_version: str | None
    threshold: float | None = None

    @property
    def delta(self) -> float | None:
        if self.candidate is None or self.champion is None:
            return None
        return self.candidate - self.champion

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "metric": self.metric,
            "direction": self.direction,
            "tolerance": self.tolerance,
            "candidate": self.candidate,
            "champion": self.champion,
            "champion_version": self.champion_version,
            "threshold": self.threshold,
            "delta": self.delta,
        }


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def evaluate(
    policy: GatePolicy,
    candidate_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    champion_version: str | None = None,
) -> GateResult:
    """Decide the gate. A first model (no champion) passes; a missing metric fails clearly."""

    def result(**fields: Any) -> GateResult:
        return GateResult(
            metric=policy.metric, direction=policy.direction, tolerance=policy.tolerance, **fields
        )

    if policy.metric not in candidate_metrics:
        logged = ", ".join(sorted(candidate_metrics)) or "none"
        return result(
            passed=False,
            reason=f"the candidate logged no metric {policy.metric!r} (logged: {logged})",
            candidate=None,
            champion=None,
            champion_version=champion_version,
        )
    candidate = _finite(candidate_metrics[policy.metric])
    if candidate is None:
        return result(
            passed=False,
            reason=f"the candidate's {policy.metric} is not a finite number ({candidate_metrics[policy.metric]!r})",
            candidate=None,
            champion=None,
            champion_version=champion_version,
        )
    if champion_metrics is None:
        return result(
            passed=True,
            reason="first model: no champion behind alias 'production' to compare with",
            candidate=candidate,
            champion=None,
            champion_version=None,
        )
    champion = _finite(champion_metrics.get(policy.metric))
    if champion is None:
        return result(
            passed=True,
            reason=f"the champion (v{champion_version}) has no usable {policy.metric}; nothing to compare",
            candidate=candidate,
            champion=None,
            champion_version=champion_version,
        )
    slack = abs(champion) * policy.tolerance
    if policy.direction == "lower":
        threshold = champion + slack
        passed = candidate <= threshold
        relation = "<=" if passed else ">"
    else:
        threshold = champion - slack
        passed = candidate >= threshold
        relation = ">=" if passed else "<"
    verdict = "passes" if passed else "fails"
    reason = (
        f"{policy.metric} {candidate:.6g} {relation} {threshold:.6g} "
        f"(champion v{champion_version}: {champion:.6g}, {policy.direction} is better, "
        f"tolerance {policy.tolerance:.2%}): {verdict}"
    )
    return result(
        passed=passed,
        reason=reason,
        candidate=candidate,
        champion=champion,
        champion_version=champion_version,
        threshold=threshold,
    )
