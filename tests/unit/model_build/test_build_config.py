"""mlops.toml parsing: defaults, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.domain.errors import ConfigError
from mlops_pipeline.model_build.config import default_model_name, load_config, parse_config


def test_defaults_apply_without_a_config_file(tmp_path: Path) -> None:
    project = tmp_path / "Ship Model"
    project.mkdir()
    config = load_config(project)
    assert config.model_name == "Ship-Model"
    assert (config.gate_metric, config.gate_direction, config.gate_tolerance) == ("rmse", "lower", 0.0)
    assert config.entrypoint == "train.py"
    assert config.parity_data is None
    assert config.smoke_input is None


def test_repository_name_is_the_default_model_name(tmp_path: Path) -> None:
    assert (
        default_model_name(tmp_path, "ssh://git-codecommit.us-east-1.amazonaws.com/v1/repos/churn.git")
        == "churn"
    )
    assert load_config(tmp_path, "fraud-model").model_name == "fraud-model"


def test_full_config_is_read(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "mlops.toml").write_text(
        '[model]\nname = "delivery"\n'
        '[gate]\nmetric = "r2"\ndirection = "higher"\ntolerance = 0.05\n'
        '[train]\nentrypoint = "src/train.py"\nargs = ["--fast"]\n'
        '[parity]\ndata = "data/d.csv"\nrows = 50\ntolerance = 1e-4\n'
        "[smoke]\ninput = { inputs = { a = 1.0 } }\n"
        '[serving]\nmax_rows = 100\nartifact = "image"\n'
    )
    config = load_config(tmp_path)
    assert config.model_name == "delivery"
    assert (config.gate_metric, config.gate_direction, config.gate_tolerance) == ("r2", "higher", 0.05)
    assert (config.entrypoint, config.train_args) == ("src/train.py", ("--fast",))
    assert config.parity_data == (tmp_path / "data/d.csv").resolve()
    assert (config.parity_rows, config.parity_tolerance, config.max_rows) == (50, 1e-4, 100)
    assert config.smoke_input == {"inputs": {"a": 1.0}}
    assert config.serving_artifact == "image"
    assert parse_config({}, tmp_path).serving_artifact == "zip"  # the default: a Lambda zip


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"gate": {"direction": "up"}}, "gate.direction must be 'lower' or 'higher'"),
        ({"gate": {"tolerance": -0.1}}, "gate.tolerance must be a number >= 0"),
        ({"gate": {"tolerance": "5%"}}, "gate.tolerance must be a number >= 0"),
        ({"gate": {"metric": ""}}, "gate.metric"),
        ({"gate": {"metrc": "rmse"}}, "unknown key gate.metrc"),
        ({"gates": {}}, "unknown section [gates]"),
        ({"model": {"name": "bad name!"}}, "model.name"),
        ({"model": "x"}, "[model] must be a table"),
        ({"train": {"entrypoint": "../outside.py"}}, "train.entrypoint must be a file inside the project"),
        ({"train": {"args": "--fast"}}, "train.args must be a list of strings"),
        ({"parity": {"rows": 0}}, "parity.rows must be a positive integer"),
        ({"parity": {"data": "../../etc/passwd"}}, "parity.data must be inside the project"),
        ({"smoke": {"input": [1, 2]}}, "smoke.input must be a table"),
        ({"serving": {"max_rows": True}}, "serving.max_rows must be a positive integer"),
        ({"serving": {"artifact": "docker"}}, "serving.artifact must be 'zip' or 'image'"),
    ],
)
def test_invalid_settings_are_refused_clearly(tmp_path: Path, data: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, tmp_path)
    assert words in str(info.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "mlops.toml").write_text("[gate\nmetric=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)


def test_seed_project_config_is_valid() -> None:
    seed = Path(__file__).resolve().parents[3] / "seed_code"
    config = load_config(seed)
    assert config.model_name == "delivery-time"
    assert config.parity_data is not None and config.parity_data.is_file()
    assert config.smoke_input is not None and "columns" in config.smoke_input
