"""Gradual rollout in prod: the policy, the verdict after each bake, the next traffic weight.

After the prod smoke test the new version gets a share of the alias's traffic (``steps``,
percent), bakes for ``bake_seconds``, and is judged on what it served meanwhile:

* throttles above ``max_throttles``, an error rate above ``max_error_rate`` (percent of its
  requests), a p99 duration above ``max_p99_ms`` or above ``max_p99_ratio_vs_previous`` times
  the previous version's p99 over the same bake: **rollback**, naming the metric;
* no request at all: the ``no_traffic`` rule: ``pass`` (advance), ``fail`` (rollback) or
  ``extend`` (bake again, at most ``max_extensions`` times; then it fails, since a version
  nobody has called is not known to work);
* otherwise **advance** to the next step, until 100 %.

``all_at_once`` moves 100 % in one step and bakes nothing. Pure: no AWS here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mlops_pipeline.domain.errors import ConfigError

Action = Literal["advance", "rollback", "extend"]
MODES = ("gradual", "all_at_once")
NO_TRAFFIC_RULES = ("pass", "extend", "fail")
FULL = 100

# Settings (environment variables) of the rollout: name -> (default, description).
# Unset or empty: the default. The optional thresholds are switched off with ``off``.
OFF = "off"
SETTINGS: dict[str, tuple[str, str]] = {
    "ROLLOUT_MODE": ("gradual", "`gradual` (steps with bakes) or `all_at_once`."),
    "ROLLOUT_STEPS": ("10,100", "Traffic percentages of the new version, increasing, ending at 100."),
    "ROLLOUT_BAKE_SECONDS": ("300", "Seconds each step bakes before it is judged."),
    "ROLLOUT_MAX_ERROR_RATE": ("1", "Highest error rate of the new version, percent of its requests."),
    "ROLLOUT_MAX_THROTTLES": ("0", "Most throttled requests of the new version during a bake."),
    "ROLLOUT_MAX_P99_MS": ("off", "Highest p99 duration (ms) of the new version; `off`: no limit."),
    "ROLLOUT_MAX_P99_RATIO": (
        "1.5",
        "Highest p99 of the new version / p99 of the previous one; `off`: no limit.",
    ),
    "ROLLOUT_NO_TRAFFIC": ("extend", "A bake without requests: `pass`, `extend` or `fail`."),
    "ROLLOUT_MAX_EXTENSIONS": ("2", "Bakes added for lack of traffic before the `extend` rule fails."),
}


@dataclass(frozen=True)
class RolloutPolicy:
    """How prod moves to a new version; ConfigError on a value that makes no sense."""

    mode: str = "gradual"
    steps: tuple[int, ...] = (10, FULL)
    bake_seconds: int = 300
    max_error_rate: float = 1.0  # percent of the new version's requests
    max_throttles: int = 0
    max_p99_ms: float | None = None
    max_p99_ratio_vs_previous: float | None = 1.5
    no_traffic: str = "extend"
    max_extensions: int = 2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"ROLLOUT_MODE must be one of {', '.join(MODES)}, not {self.mode!r}")
        steps = self.steps
        if not steps or any(not 0 < s <= FULL for s in steps) or list(steps) != sorted(set(steps)):
            raise ConfigError(f"ROLLOUT_STEPS must be increasing percentages in 1..100, not {steps!r}")
        if steps[-1] != FULL:
            raise ConfigError(
                f"ROLLOUT_STEPS must end at 100 (the new version takes all traffic), not {steps!r}"
            )
        if self.bake_seconds < 0:
            raise ConfigError(f"ROLLOUT_BAKE_SECONDS must be 0 or more, not {self.bake_seconds}")
        if not 0 <= self.max_error_rate <= FULL:
            raise ConfigError(
                f"ROLLOUT_MAX_ERROR_RATE must be a percentage 0..100, not {self.max_error_rate}"
            )
        if self.max_throttles < 0:
            raise ConfigError(f"ROLLOUT_MAX_THROTTLES must be 0 or more, not {self.max_throttles}")
        if self.max_p99_ms is not None and not self.max_p99_ms > 0:
            raise ConfigError(f"ROLLOUT_MAX_P99_MS must be a positive number, not {self.max_p99_ms}")
        ratio = self.max_p99_ratio_vs_previous
        if ratio is not None and not ratio >= 1:
            raise ConfigError(f"ROLLOUT_MAX_P99_RATIO must be 1 or more, not {ratio}")
        if self.no_traffic not in NO_TRAFFIC_RULES:
            raise ConfigError(
                f"ROLLOUT_NO_TRAFFIC must be one of {', '.join(NO_TRAFFIC_RULES)}, not {self.no_traffic!r}"
            )
        if self.max_extensions < 0:
            raise ConfigError(f"ROLLOUT_MAX_EXTENSIONS must be 0 or more, not {self.max_extensions}")

    @property
    def effective_steps(self) -> tuple[int, ...]:
        """The weights traffic moves through: ``steps``, or (100,) all at once."""
        return (FULL,) if self.mode == "all_at_once" else self.steps

    @classmethod
    def from_settings(cls, env: Mapping[str, str]) -> RolloutPolicy:
        """The policy of the ``ROLLOUT_*`` settings (unset or empty: the default of ``SETTINGS``)."""

        def raw(name: str) -> str:
            value = env.get(name)
            return SETTINGS[name][0] if value is None or value.strip() == "" else value.strip()

        def whole(name: str) -> int:
            try:
                return int(raw(name))
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {raw(name)!r}") from None

        def number(name: str) -> float | None:
            text = raw(name)
            if text.lower() == OFF:
                return None
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {text!r}") from None
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, not {text!r}")
            return value

        try:
            steps = tuple(int(p) for p in raw("ROLLOUT_STEPS").split(",") if p.strip())
        except ValueError:
            raise ConfigError(
                f"ROLLOUT_STEPS must be comma-separated whole percentages, not {raw('ROLLOUT_STEPS')!r}"
            ) from None
        max_error_rate = number("ROLLOUT_MAX_ERROR_RATE")
        return cls(
            mode=raw("ROLLOUT_MODE"),
            steps=steps,
            bake_seconds=whole("ROLLOUT_BAKE_SECONDS"),
            max_error_rate=1.0 if max_error_rate is None else max_error_rate,
            max_throttles=whole("ROLLOUT_MAX_THROTTLES"),
            max_p99_ms=number("ROLLOUT_MAX_P99_MS"),
            max_p99_ratio_vs_previous=number("ROLLOUT_MAX_P99_RATIO"),
            no_traffic=raw("ROLLOUT_NO_TRAFFIC"),
            max_extensions=whole("ROLLOUT_MAX_EXTENSIONS"),
        )


@dataclass(frozen=True)
class BakeMetrics:
    """What one version served during a bake (CloudWatch sums; p99 None without requests)."""

    version: str
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        """Errors in percent of the requests; None without requests."""
        return None if self.invocations <= 0 else 100.0 * self.errors / self.invocations


@dataclass(frozen=True)
class Verdict:
    """What to do after a bake, and why; ``metric`` names what breached (None when advancing)."""

    action: Action
    reason: str
    metric: str | None = None


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def judge(
    policy: RolloutPolicy, new: BakeMetrics, previous: BakeMetrics | None, extensions_so_far: int = 0
) -> Verdict:
    """The verdict on the new version after one bake (see the module docstring for the rules)."""
    v = f"v{new.version}"
    if new.throttles > policy.max_throttles:
        return Verdict("rollback", f"throttles {new.throttles} > {policy.max_throttles} on {v}", "throttles")
    if new.invocations <= 0:
        return _no_traffic(policy, v, extensions_so_far)
    rate = new.error_rate or 0.0
    if rate > policy.max_error_rate:
        return Verdict(
            "rollback",
            f"errors {rate:.1f} % > {policy.max_error_rate:.1f} % on {v} "
            f"({new.errors} of {new.invocations} requests)",
            "errors",
        )
    if new.p99_ms is not None and policy.max_p99_ms is not None and new.p99_ms > policy.max_p99_ms:
        return Verdict(
            "rollback", f"p99 duration {_ms(new.p99_ms)} > {_ms(policy.max_p99_ms)} on {v}", "p99_duration"
        )
    ratio = policy.max_p99_ratio_vs_previous
    if ratio is not None and new.p99_ms is not None and previous is not None and previous.p99_ms:
        before = previous.p99_ms  # the previous version over the same bake: same load, same time
        if new.p99_ms > ratio * before:
            return Verdict(
                "rollback",
                f"p99 duration {_ms(new.p99_ms)} on {v} is {new.p99_ms / before:.1f}x "
                f"v{previous.version}'s {_ms(before)} (limit {ratio:g}x)",
                "p99_duration",
            )
    p99 = "" if new.p99_ms is None else f", p99 {_ms(new.p99_ms)}"
    return Verdict("advance", f"{new.errors} errors in {new.invocations} requests on {v}{p99}")


def _no_traffic(policy: RolloutPolicy, v: str, extensions_so_far: int) -> Verdict:
    if policy.no_traffic == "pass":
        return Verdict("advance", f"no requests reached {v} during the bake (rule: pass)")
    if policy.no_traffic == "extend" and extensions_so_far < policy.max_extensions:
        return Verdict(
            "extend",
            f"no requests reached {v} during the bake: baking again "
            f"({extensions_so_far + 1} of {policy.max_extensions} extensions)",
        )
    if policy.no_traffic == "extend":
        reason = (
            f"no requests reached {v} after {policy.max_extensions} extensions of the bake (rule: extend)"
        )
    else:
        reason = f"no requests reached {v} during the bake (rule: fail)"
    return Verdict("rollback", reason, "no_traffic")


def next_weight(policy: RolloutPolicy, current_weight: int) -> int:
    """The traffic percentage of the step after ``current_weight`` (100 stays 100)."""
    for step in policy.effective_steps:
        if step > current_weight:
            return step
    return FULL


def step_summary(weight: int, new: BakeMetrics, bake_seconds: int) -> str:
    """One line for the run's thread: ``10 % → v7, 0 errors in 5 min (200 requests)``."""
    minutes = bake_seconds / 60
    span = f"{minutes:g} min" if bake_seconds >= 60 else f"{bake_seconds} s"
    return f"{weight} % → v{new.version}, {new.errors} errors in {span} ({new.invocations} requests)"
