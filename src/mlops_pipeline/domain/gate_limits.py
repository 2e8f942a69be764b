"""The pipeline's bounds on a model project's gate: a project may tighten the gate, never loosen it.

The project's gate comes from ``mlops.toml`` (the build) or from the version's ``gate_*`` tags
(Evaluate, which does not trust that the build checked). Both go through ``GateLimits.resolve``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.gate import DIRECTIONS, GatePolicy

DEFAULT_METRIC = "rmse"  # a project's metric when neither the pipeline nor the project names one

# Where each limit is set: the Lambda/CodeBuild setting and the pipeline module's Terraform variable.
SETTING = {
    "metric": "pipeline setting GATE_METRIC (Terraform variable gate.metric)",
    "direction": "pipeline setting GATE_DIRECTION (Terraform variable gate.direction)",
    "tolerance": "pipeline setting GATE_MAX_TOLERANCE (Terraform variable gate.max_tolerance)",
}
# How a refusal names the project's value: its mlops.toml key.
MLOPS_TOML_KEYS = {field: f"mlops.toml gate.{field}" for field in ("metric", "direction", "tolerance")}


def tag_keys(model_name: str, version: str) -> dict[str, str]:
    """How a refusal in Evaluate names a version's gate tags (the build writes them)."""
    return {
        field: f"{model_name} v{version}'s tag gate_{field} (mlops.toml gate.{field})"
        for field in ("metric", "direction", "tolerance")
    }


@dataclass(frozen=True)
class GateLimits:
    """What the pipeline allows.

    ``metric``: the gate metric every project must use; None lets the project choose the metric
    *and* its direction (the pipeline cannot know which way an arbitrary metric is better).
    ``direction``: which way ``metric`` is better; a project may not flip it. ``tolerance``: the
    tolerance of a project that sets none. ``max_tolerance``: the largest tolerance (relative
    regression against the champion) a project may set; a smaller one tightens the gate.
    """

    metric: str | None = DEFAULT_METRIC
    direction: str = "lower"
    tolerance: float = 0.0
    max_tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.metric is not None and not self.metric.strip():
            raise ConfigError(f"the {SETTING['metric']} must be a metric name or * (the project chooses)")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"the {SETTING['direction']} must be lower or higher, not {self.direction!r}")
        if not (math.isfinite(self.max_tolerance) and self.max_tolerance >= 0):
            raise ConfigError(f"the {SETTING['tolerance']} must be a number >= 0, not {self.max_tolerance!r}")
        if not (math.isfinite(self.tolerance) and 0 <= self.tolerance <= self.max_tolerance):
            raise ConfigError(
                f"the pipeline setting GATE_TOLERANCE (Terraform variable gate.tolerance) must be "
                f"between 0 and GATE_MAX_TOLERANCE {self.max_tolerance:g}, not {self.tolerance!r}"
            )

    def resolve(
        self,
        metric: str | None,
        direction: str | None,
        tolerance: float | str | None,
        keys: Mapping[str, str] = MLOPS_TOML_KEYS,
    ) -> GatePolicy:
        """The gate of a project that set ``metric``/``direction``/``tolerance`` (None: not set).

        Unset values take the pipeline's; a value that loosens the limits raises ConfigError
        naming ``keys[field]`` (where the project set it), its value, the limit and its setting.
        """
        if self.metric is None:
            chosen_metric = metric or DEFAULT_METRIC
        else:
            if metric is not None and metric != self.metric:
                raise self._refusal(keys, "metric", metric, f"the pipeline's gate metric is {self.metric!r}")
            chosen_metric = self.metric
        if direction is not None and direction not in DIRECTIONS:
            raise ConfigError(f"{keys['direction']} must be lower or higher, not {direction!r}")
        if self.metric is not None and direction is not None and direction != self.direction:
            raise self._refusal(
                keys, "direction", direction, f"{self.direction} is better for {self.metric!r}"
            )
        chosen_direction = direction or self.direction
        chosen_tolerance = self.tolerance if tolerance is None else _number(tolerance, keys["tolerance"])
        if chosen_tolerance > self.max_tolerance:
            raise self._refusal(keys, "tolerance", chosen_tolerance, f"at most {self.max_tolerance:g}")
        return GatePolicy(chosen_metric, chosen_direction, chosen_tolerance)

    @staticmethod
    def _refusal(keys: Mapping[str, str], field: str, value: object, limit: str) -> ConfigError:
        return ConfigError(
            f"{keys[field]} = {value!r} loosens the pipeline's gate: {limit}, set by the {SETTING[field]}. "
            "A model project may tighten the gate, not loosen it."
        )


def _number(value: float | str, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if not (math.isfinite(number) and number >= 0):
        raise ConfigError(f"{key} must be a finite number >= 0, not {value!r}")
    return number


def gate_from_tags(tags: Mapping[str, str], limits: GateLimits, model_name: str, version: str) -> GatePolicy:
    """The gate recorded on a version (``gate_*`` tags; absent ones take the pipeline's), checked
    against ``limits``: the build wrote the tags, so Evaluate does not rely on its check."""
    return limits.resolve(
        (tags.get("gate_metric") or "").strip() or None,
        (tags.get("gate_direction") or "").strip().lower() or None,
        (tags.get("gate_tolerance") or "").strip() or None,
        tag_keys(model_name, version),
    )
