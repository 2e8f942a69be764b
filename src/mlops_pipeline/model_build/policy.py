"""The pipeline's policy caps over the model project's ``mlops.toml``.

``mlops.toml`` is written by whoever pushes, so it is untrusted: it may tighten the gate and
the serving batch limit, never loosen them. The limits are pipeline settings
(``mlops_pipeline.config.SETTINGS``), set by Terraform on the build and on Evaluate; Evaluate
checks the version's gate tags against the same limits (``domain.gate_limits``).

Usage in the build: ``enforce(load_config(project_dir, repository), PipelinePolicy.from_env(os.environ))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_pipeline import config as settings
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.gate_limits import MLOPS_TOML_KEYS, GateLimits
from mlops_pipeline.model_build.config import ProjectConfig

ANY_METRIC = "*"  # GATE_METRIC value: the project chooses its metric and direction
_MAX_ROWS_SETTING = {
    "floor": "pipeline setting SERVING_MAX_ROWS_FLOOR (Terraform variable serving_max_rows.floor)",
    "cap": "pipeline setting SERVING_MAX_ROWS_CAP (Terraform variable serving_max_rows.cap)",
}


@dataclass(frozen=True)
class PipelinePolicy:
    """The gate limits and the bounds of ``serving.max_rows`` (a project's value must lie within
    ``max_rows_floor..max_rows_cap``; without one it gets ``max_rows_cap``)."""

    gate: GateLimits = field(default_factory=GateLimits)
    max_rows_floor: int = 1
    max_rows_cap: int = 10_000
    # The model names this deployment has functions for (DECLARED_MODELS); None: no check.
    declared_models: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_rows_floor <= self.max_rows_cap:
            raise ConfigError(
                f"the {_MAX_ROWS_SETTING['floor']} ({self.max_rows_floor}) must be at least 1 and at most "
                f"the {_MAX_ROWS_SETTING['cap']} ({self.max_rows_cap})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelinePolicy:
        """The policy from the GATE_* and SERVING_MAX_ROWS_* settings (None: ``os.environ``)."""
        # An empty setting means its default (config.get), so "the project chooses" is spelled "*".
        metric = settings.get("GATE_METRIC", env).strip()
        return cls(
            gate=GateLimits(
                metric=None if metric == ANY_METRIC else metric,
                direction=settings.get("GATE_DIRECTION", env).strip().lower(),
                tolerance=settings.get_float("GATE_TOLERANCE", env),
                max_tolerance=settings.get_float("GATE_MAX_TOLERANCE", env),
            ),
            max_rows_floor=settings.get_int("SERVING_MAX_ROWS_FLOOR", env),
            max_rows_cap=settings.get_int("SERVING_MAX_ROWS_CAP", env),
            declared_models=settings.declared_models(env),
        )

    def max_rows(self, value: int | None) -> int:
        """``serving.max_rows`` of a project that set ``value`` (None: not set)."""
        if value is None:
            return self.max_rows_cap
        if value > self.max_rows_cap:
            limit, setting = f"at most {self.max_rows_cap}", _MAX_ROWS_SETTING["cap"]
        elif value < self.max_rows_floor:
            limit, setting = f"at least {self.max_rows_floor}", _MAX_ROWS_SETTING["floor"]
        else:
            return value
        raise ConfigError(
            f"mlops.toml serving.max_rows = {value!r} is outside the pipeline's bounds: {limit}, set by the {setting}"
        )


def enforce(config: ProjectConfig, policy: PipelinePolicy) -> ProjectConfig:
    """``config`` with the pipeline's values where mlops.toml set none; ConfigError if it loosens.

    A key counts as set when ``config.explicit_keys`` names it (``parse_config`` records them;
    None, for a config built in code, means every field is set). A model name the deployment
    declares no functions for is refused first: nothing is trained for it, nothing deployed.
    """
    if policy.declared_models is not None and config.model_name not in policy.declared_models:
        raise settings.undeclared_model(config.model_name, policy.declared_models, "in this deployment")
    given = config.explicit_keys

    def own(key: str) -> bool:
        return given is None or key in given

    gate = policy.gate.resolve(
        config.gate_metric if own("gate.metric") else None,
        config.gate_direction if own("gate.direction") else None,
        config.gate_tolerance if own("gate.tolerance") else None,
        MLOPS_TOML_KEYS,
    )
    return dataclasses.replace(
        config,
        gate_metric=gate.metric,
        gate_direction=gate.direction,
        gate_tolerance=gate.tolerance,
        max_rows=policy.max_rows(config.max_rows if own("serving.max_rows") else None),
    )
