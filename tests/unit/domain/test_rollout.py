"""The rollout policy: settings, verdicts after a bake, next weights."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.rollout import (
    NO_TRAFFIC_RULES,
    SETTINGS,
    BakeMetrics,
    RolloutPolicy,
    judge,
    next_weight,
    step_summary,
)

POLICY = RolloutPolicy()
PREVIOUS = BakeMetrics("6", invocations=1800, errors=2, p99_ms=300.0)


# -- settings ---------------------------------------------------------------------------------------


def test_defaults_are_ten_percent_then_all() -> None:
    policy = RolloutPolicy.from_settings({})
    assert policy == RolloutPolicy()
    assert (policy.mode, policy.steps, policy.bake_seconds) == ("gradual", (10, 100), 300)
    assert (policy.max_error_rate, policy.max_throttles, policy.no_traffic) == (1.0, 0, "extend")
    assert set(SETTINGS) == {
        "ROLLOUT_MODE",
        "ROLLOUT_STEPS",
        "ROLLOUT_BAKE_SECONDS",
        "ROLLOUT_MAX_ERROR_RATE",
        "ROLLOUT_MAX_THROTTLES",
        "ROLLOUT_MAX_P99_MS",
        "ROLLOUT_MAX_P99_RATIO",
        "ROLLOUT_NO_TRAFFIC",
        "ROLLOUT_MAX_EXTENSIONS",
    }


def test_settings_are_read() -> None:
    policy = RolloutPolicy.from_settings(
        {
            "ROLLOUT_STEPS": "5, 25,100",
            "ROLLOUT_BAKE_SECONDS": "60",
            "ROLLOUT_MAX_ERROR_RATE": "0.5",
            "ROLLOUT_MAX_THROTTLES": "3",
            "ROLLOUT_MAX_P99_MS": "800",
            "ROLLOUT_MAX_P99_RATIO": "off",
            "ROLLOUT_NO_TRAFFIC": "fail",
            "ROLLOUT_MAX_EXTENSIONS": "0",
        }
    )
    assert policy == RolloutPolicy(
        steps=(5, 25, 100),
        bake_seconds=60,
        max_error_rate=0.5,
        max_throttles=3,
        max_p99_ms=800.0,
        max_p99_ratio_vs_previous=None,
        no_traffic="fail",
        max_extensions=0,
    )


def test_all_at_once_moves_everything_in_one_step() -> None:
    policy = RolloutPolicy.from_settings({"ROLLOUT_MODE": "all_at_once"})
    assert policy.effective_steps == (100,)
    assert next_weight(policy, 0) == 100


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ROLLOUT_MODE": "canary"}, "ROLLOUT_MODE must be one of gradual, all_at_once, not 'canary'"),
        ({"ROLLOUT_STEPS": "10,50"}, "ROLLOUT_STEPS must end at 100"),
        ({"ROLLOUT_STEPS": "50,10,100"}, "ROLLOUT_STEPS must be increasing percentages"),
        ({"ROLLOUT_STEPS": "10,10,100"}, "ROLLOUT_STEPS must be increasing percentages"),
        ({"ROLLOUT_STEPS": "0,100"}, "ROLLOUT_STEPS must be increasing percentages"),
        ({"ROLLOUT_STEPS": "10,120"}, "ROLLOUT_STEPS must be increasing percentages"),
        (
            {"ROLLOUT_STEPS": "ten,100"},
            "ROLLOUT_STEPS must be comma-separated whole percentages, not 'ten,100'",
        ),
        ({"ROLLOUT_BAKE_SECONDS": "5m"}, "ROLLOUT_BAKE_SECONDS must be a whole number, not '5m'"),
        ({"ROLLOUT_BAKE_SECONDS": "-1"}, "ROLLOUT_BAKE_SECONDS must be 0 or more"),
        ({"ROLLOUT_MAX_ERROR_RATE": "150"}, "ROLLOUT_MAX_ERROR_RATE must be a percentage 0..100"),
        ({"ROLLOUT_MAX_ERROR_RATE": "1%"}, "ROLLOUT_MAX_ERROR_RATE must be a number, not '1%'"),
        ({"ROLLOUT_MAX_ERROR_RATE": "nan"}, "ROLLOUT_MAX_ERROR_RATE must be a finite number"),
        ({"ROLLOUT_MAX_THROTTLES": "-2"}, "ROLLOUT_MAX_THROTTLES must be 0 or more"),
        ({"ROLLOUT_MAX_P99_MS": "0"}, "ROLLOUT_MAX_P99_MS must be a positive number"),
        ({"ROLLOUT_MAX_P99_RATIO": "0.5"}, "ROLLOUT_MAX_P99_RATIO must be 1 or more"),
        ({"ROLLOUT_NO_TRAFFIC": "ignore"}, "ROLLOUT_NO_TRAFFIC must be one of pass, extend, fail"),
        ({"ROLLOUT_MAX_EXTENSIONS": "-1"}, "ROLLOUT_MAX_EXTENSIONS must be 0 or more"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_setting(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        RolloutPolicy.from_settings(settings)
    assert message in str(err.value)


# -- verdicts ---------------------------------------------------------------------------------------


def test_healthy_version_advances() -> None:
    verdict = judge(POLICY, BakeMetrics("7", invocations=200, errors=1, p99_ms=310.0), PREVIOUS)
    assert verdict.action == "advance"
    assert verdict.reason == "1 errors in 200 requests on v7, p99 310 ms"
    assert verdict.metric is None


def test_a_version_failing_a_fifth_of_requests_is_rolled_back_naming_errors() -> None:
    verdict = judge(POLICY, BakeMetrics("7", invocations=200, errors=40, p99_ms=120.0), PREVIOUS)
    assert verdict.action == "rollback"
    assert verdict.metric == "errors"
    assert verdict.reason == "errors 20.0 % > 1.0 % on v7 (40 of 200 requests)"


def test_throttles_roll_back_even_without_requests() -> None:
    verdict = judge(POLICY, BakeMetrics("7", invocations=0, throttles=4), PREVIOUS)
    assert (verdict.action, verdict.metric) == ("rollback", "throttles")
    assert verdict.reason == "throttles 4 > 0 on v7"


def test_p99_over_the_absolute_limit_rolls_back() -> None:
    policy = RolloutPolicy(max_p99_ms=500, max_p99_ratio_vs_previous=None)
    verdict = judge(policy, BakeMetrics("7", invocations=50, p99_ms=812.4), None)
    assert (verdict.action, verdict.metric) == ("rollback", "p99_duration")
    assert verdict.reason == "p99 duration 812 ms > 500 ms on v7"


def test_p99_compared_with_the_previous_version() -> None:
    slow = BakeMetrics("7", invocations=50, p99_ms=900.0)
    verdict = judge(POLICY, slow, PREVIOUS)
    assert (verdict.action, verdict.metric) == ("rollback", "p99_duration")
    assert verdict.reason == "p99 duration 900 ms on v7 is 3.0x v6's 300 ms (limit 1.5x)"
    # without a previous p99 (first deploy, or the old version got no request) there is nothing to compare
    assert judge(POLICY, slow, None).action == "advance"
    assert judge(POLICY, slow, BakeMetrics("6")).action == "advance"
    assert judge(RolloutPolicy(max_p99_ratio_vs_previous=None), slow, PREVIOUS).action == "advance"


def test_no_traffic_follows_the_rule() -> None:
    idle = BakeMetrics("7")
    assert judge(RolloutPolicy(no_traffic="pass"), idle, PREVIOUS).action == "advance"
    failed = judge(RolloutPolicy(no_traffic="fail"), idle, PREVIOUS)
    assert (failed.action, failed.metric) == ("rollback", "no_traffic")
    assert failed.reason == "no requests reached v7 during the bake (rule: fail)"
    extend = RolloutPolicy(no_traffic="extend", max_extensions=2)
    first = judge(extend, idle, PREVIOUS, extensions_so_far=0)
    assert first.action == "extend"
    assert "1 of 2 extensions" in first.reason
    assert judge(extend, idle, PREVIOUS, extensions_so_far=1).action == "extend"
    exhausted = judge(extend, idle, PREVIOUS, extensions_so_far=2)
    assert (exhausted.action, exhausted.metric) == ("rollback", "no_traffic")
    assert exhausted.reason == "no requests reached v7 after 2 extensions of the bake (rule: extend)"


def test_next_weight_walks_the_steps() -> None:
    policy = RolloutPolicy(steps=(5, 25, 100))
    assert [next_weight(policy, w) for w in (0, 5, 10, 25, 100)] == [5, 25, 25, 100, 100]


def test_step_summary_for_the_thread() -> None:
    line = step_summary(10, BakeMetrics("7", invocations=200), 300)
    assert line == "10 % → v7, 0 errors in 5 min (200 requests)"
    assert step_summary(10, BakeMetrics("7", invocations=3, errors=1), 30).endswith(
        "1 errors in 30 s (3 requests)"
    )


# -- properties -------------------------------------------------------------------------------------

steps_st = st.lists(st.integers(1, 99), max_size=4, unique=True).map(lambda xs: (*sorted(xs), 100))
policies = st.builds(
    RolloutPolicy,
    mode=st.sampled_from(("gradual", "all_at_once")),
    steps=steps_st,
    bake_seconds=st.integers(0, 3600),
    max_error_rate=st.floats(0, 100),
    max_throttles=st.integers(0, 10),
    max_p99_ms=st.none() | st.floats(1, 10_000),
    max_p99_ratio_vs_previous=st.none() | st.floats(1, 10),
    no_traffic=st.sampled_from(NO_TRAFFIC_RULES),
    max_extensions=st.integers(0, 5),
)


@st.composite
def bakes(draw: st.DrawFn, version: str = "7") -> BakeMetrics:
    invocations = draw(st.integers(0, 10_000))
    return BakeMetrics(
        version,
        invocations=invocations,
        errors=draw(st.integers(0, invocations)),
        throttles=draw(st.integers(0, 20)),
        p99_ms=None if invocations == 0 else draw(st.floats(0.1, 20_000)),
    )


@given(policies, st.integers(0, 100))
def test_weight_never_goes_past_100_and_never_back(policy: RolloutPolicy, weight: int) -> None:
    nxt = next_weight(policy, weight)
    assert nxt <= 100
    assert nxt > weight or nxt == weight == 100
    assert nxt in policy.effective_steps


@given(policies)
def test_advancing_from_zero_reaches_100_in_as_many_steps_as_configured(policy: RolloutPolicy) -> None:
    weight, moves = 0, 0
    while weight < 100:
        weight, moves = next_weight(policy, weight), moves + 1
    assert moves == len(policy.effective_steps)


@given(policies, bakes(), st.none() | bakes("6"), st.integers(0, 6))
def test_a_breach_always_rolls_back(
    policy: RolloutPolicy, new: BakeMetrics, previous: BakeMetrics | None, extensions: int
) -> None:
    verdict = judge(policy, new, previous, extensions)
    breached = new.throttles > policy.max_throttles or (
        new.invocations > 0 and 100.0 * new.errors / new.invocations > policy.max_error_rate
    )
    if breached:
        assert verdict.action == "rollback"
        assert verdict.metric in {"throttles", "errors"}
        assert f"v{new.version}" in verdict.reason
    if verdict.action == "rollback":
        assert verdict.metric is not None
    else:
        assert verdict.metric is None


@given(policies, st.integers(0, 6), st.none() | bakes("6"))
def test_no_traffic_follows_the_configured_rule(
    policy: RolloutPolicy, extensions: int, previous: BakeMetrics | None
) -> None:
    verdict = judge(policy, BakeMetrics("7"), previous, extensions)
    expected = {
        "pass": "advance",
        "fail": "rollback",
        "extend": "extend" if extensions < policy.max_extensions else "rollback",
    }[policy.no_traffic]
    assert verdict.action == expected
    assert "no requests reached v7" in verdict.reason
