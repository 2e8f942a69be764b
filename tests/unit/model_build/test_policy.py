"""The pipeline's policy caps over mlops.toml: a project may tighten them, never loosen them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_pipeline import config as settings
from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.domain.gate_limits import GateLimits
from mlops_pipeline.model_build.config import ProjectConfig, parse_config
from mlops_pipeline.model_build.policy import PipelinePolicy, enforce

STRICT = PipelinePolicy(
    GateLimits(metric="rmse", direction="lower", tolerance=0.01, max_tolerance=0.05),
    max_rows_floor=10,
    max_rows_cap=1000,
)


def project(tmp_path: Path, **sections: dict[str, Any]) -> ProjectConfig:
    """What the build reads from an mlops.toml holding ``sections``."""
    (tmp_path / "train.py").write_text("")
    return parse_config(dict(sections), tmp_path, "models")


def test_a_silent_project_gets_the_pipelines_values(tmp_path: Path) -> None:
    r2 = PipelinePolicy(GateLimits("r2", "higher", 0.02, 0.1), max_rows_floor=1, max_rows_cap=77)
    config = enforce(project(tmp_path), r2)
    assert (config.gate_metric, config.gate_direction, config.gate_tolerance) == ("r2", "higher", 0.02)
    assert config.max_rows == 77
    # The project's other settings pass through untouched.
    assert config.model_name == "models" and config.entrypoint == "train.py"


def test_defaults_are_the_settings_defaults(tmp_path: Path) -> None:
    policy = PipelinePolicy.from_env({})
    assert policy == PipelinePolicy()
    assert policy.gate == GateLimits("rmse", "lower", 0.0, 0.0)
    assert (policy.max_rows_floor, policy.max_rows_cap) == (1, 10_000)
    config = enforce(project(tmp_path), policy)
    assert (config.gate_metric, config.gate_direction, config.gate_tolerance, config.max_rows) == (
        "rmse",
        "lower",
        0.0,
        10_000,
    )


@pytest.mark.parametrize(
    ("sections", "key", "limit", "setting"),
    [
        ({"gate": {"metric": "mae"}}, "mlops.toml gate.metric = 'mae'", "'rmse'", "GATE_METRIC"),
        (
            {"gate": {"direction": "higher"}},
            "mlops.toml gate.direction = 'higher'",
            "lower",
            "GATE_DIRECTION",
        ),
        (
            {"gate": {"metric": "rmse", "direction": "higher"}},
            "mlops.toml gate.direction = 'higher'",
            "lower",
            "GATE_DIRECTION",
        ),
        (
            {"gate": {"tolerance": 0.06}},
            "mlops.toml gate.tolerance = 0.06",
            "at most 0.05",
            "GATE_MAX_TOLERANCE",
        ),
        (
            {"gate": {"tolerance": 100}},
            "mlops.toml gate.tolerance = 100.0",
            "at most 0.05",
            "GATE_MAX_TOLERANCE",
        ),
        (
            {"serving": {"max_rows": 1001}},
            "mlops.toml serving.max_rows = 1001",
            "at most 1000",
            "SERVING_MAX_ROWS_CAP",
        ),
        (
            {"serving": {"max_rows": 9}},
            "mlops.toml serving.max_rows = 9",
            "at least 10",
            "SERVING_MAX_ROWS_FLOOR",
        ),
    ],
)
def test_each_loosening_is_refused_with_key_value_limit_and_setting(
    tmp_path: Path, sections: dict[str, Any], key: str, limit: str, setting: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        enforce(project(tmp_path, **sections), STRICT)
    message = str(refused.value)
    assert key in message and limit in message
    assert f"pipeline setting {setting} (Terraform variable " in message


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"gate": {"tolerance": 0.0}}, ("rmse", "lower", 0.0, 1000)),
        ({"gate": {"tolerance": 0.05}}, ("rmse", "lower", 0.05, 1000)),  # the cap itself is allowed
        ({"gate": {"metric": "rmse", "direction": "lower"}}, ("rmse", "lower", 0.01, 1000)),
        ({"serving": {"max_rows": 10}}, ("rmse", "lower", 0.01, 10)),
        ({"serving": {"max_rows": 500}}, ("rmse", "lower", 0.01, 500)),
    ],
)
def test_each_tightening_is_accepted(
    tmp_path: Path, sections: dict[str, Any], expected: tuple[str, str, float, int]
) -> None:
    config = enforce(project(tmp_path, **sections), STRICT)
    assert (config.gate_metric, config.gate_direction, config.gate_tolerance, config.max_rows) == expected


def test_gate_metric_any_lets_the_project_choose_metric_and_direction(tmp_path: Path) -> None:
    free = PipelinePolicy(GateLimits(metric=None, max_tolerance=0.05))
    config = enforce(project(tmp_path, gate={"metric": "r2", "direction": "higher"}), free)
    assert (config.gate_metric, config.gate_direction) == ("r2", "higher")
    assert enforce(project(tmp_path), free).gate_metric == "rmse"  # nobody named one
    with pytest.raises(ConfigError, match="GATE_MAX_TOLERANCE"):  # the tolerance cap still holds
        enforce(project(tmp_path, gate={"metric": "r2", "tolerance": 0.5}), free)


def test_a_config_built_in_code_counts_every_field_as_set() -> None:
    # No explicit_keys: its default gate (rmse) is the project's, so an r2 pipeline refuses it.
    r2 = PipelinePolicy(GateLimits("r2", "higher"))
    with pytest.raises(ConfigError, match=r"gate\.metric = 'rmse'"):
        enforce(ProjectConfig(model_name="m"), r2)
    assert (
        enforce(ProjectConfig(model_name="m", gate_metric="r2", gate_direction="higher"), r2).max_rows
        == 10_000
    )


def test_from_env_reads_the_settings() -> None:
    env = {
        "GATE_METRIC": " r2 ",
        "GATE_DIRECTION": "Higher",
        "GATE_TOLERANCE": "0.01",
        "GATE_MAX_TOLERANCE": "0.03",
        "SERVING_MAX_ROWS_FLOOR": "5",
        "SERVING_MAX_ROWS_CAP": "50",
    }
    assert PipelinePolicy.from_env(env) == PipelinePolicy(GateLimits("r2", "higher", 0.01, 0.03), 5, 50)
    assert PipelinePolicy.from_env({"GATE_METRIC": " * "}).gate.metric is None
    assert PipelinePolicy.from_env({"GATE_METRIC": ""}).gate.metric == "rmse"  # empty: the default
    for name in env:  # every policy setting is documented (docs/configuration.md)
        assert settings.get(name, {}) is not None


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"GATE_DIRECTION": "sideways"}, "GATE_DIRECTION"),
        ({"GATE_MAX_TOLERANCE": "-0.1"}, "GATE_MAX_TOLERANCE"),
        ({"GATE_MAX_TOLERANCE": "nan"}, "GATE_MAX_TOLERANCE"),
        ({"GATE_TOLERANCE": "0.1", "GATE_MAX_TOLERANCE": "0.05"}, "GATE_TOLERANCE"),
        ({"SERVING_MAX_ROWS_FLOOR": "0"}, "SERVING_MAX_ROWS_FLOOR"),
        ({"SERVING_MAX_ROWS_FLOOR": "11", "SERVING_MAX_ROWS_CAP": "10"}, "SERVING_MAX_ROWS_FLOOR"),
        ({"SERVING_MAX_ROWS_CAP": "many"}, "SERVING_MAX_ROWS_CAP"),
    ],
)
def test_a_malformed_policy_is_refused(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PipelinePolicy.from_env(env)


@given(
    metric=st.none() | st.sampled_from(["rmse", "mae"]),
    direction=st.none() | st.sampled_from(["lower", "higher"]),
    tolerance=st.none() | st.floats(min_value=0, max_value=1, allow_nan=False),
    max_rows=st.none() | st.integers(min_value=1, max_value=5000),
)
def test_whatever_the_project_says_the_result_is_within_the_policy(
    metric: str | None, direction: str | None, tolerance: float | None, max_rows: int | None
) -> None:
    gate = {
        k: v
        for k, v in {"metric": metric, "direction": direction, "tolerance": tolerance}.items()
        if v is not None
    }
    serving = {"max_rows": max_rows} if max_rows is not None else {}
    data: dict[str, Any] = {"gate": gate, "serving": serving}
    loosens = (
        (metric is not None and metric != "rmse")
        or direction == "higher"
        or (tolerance is not None and tolerance > 0.05)
        or (max_rows is not None and not 10 <= max_rows <= 1000)
    )
    try:
        config = enforce(parse_config(data, Path("/nonexistent-project"), "m"), STRICT)
    except ConfigError:
        assert loosens
        return
    assert not loosens
    assert (config.gate_metric, config.gate_direction) == ("rmse", "lower")
    assert 0 <= config.gate_tolerance <= 0.05 and 10 <= config.max_rows <= 1000
    assert config.gate_tolerance == (tolerance if "tolerance" in gate else 0.01)


def test_an_undeclared_model_is_refused_before_anything_else(tmp_path: Path) -> None:
    """DECLARED_MODELS (Terraform `models`): a new name has no functions of its own to land in."""
    policy = PipelinePolicy.from_env({"DECLARED_MODELS": "delivery-time,churn"})
    assert policy.declared_models == {"delivery-time", "churn"}
    with pytest.raises(ConfigError) as raised:
        enforce(project(tmp_path, model={"name": "fraud"}), policy)
    message = str(raised.value)
    assert "'fraud' is not declared" in message and "Terraform variable `models`" in message
    assert "declared: churn, delivery-time" in message
    assert enforce(project(tmp_path, model={"name": "churn"}), policy).model_name == "churn"
    # No DECLARED_MODELS (a developer's own build): any name.
    assert enforce(project(tmp_path, model={"name": "fraud"}), PipelinePolicy()).model_name == "fraud"
