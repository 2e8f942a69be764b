"""The Terraform runner: binary and provider-mirror discovery, init arguments (no terraform run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline import tf


def _mirror(root: Path) -> Path:
    binary = (
        root / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"
    )
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    return root


def test_explicit_plugin_dir_wins(tmp_path: Path) -> None:
    assert tf.find_plugin_dir({"TF_PLUGIN_DIR": str(tmp_path)}, candidates=[]) == tmp_path


def test_empty_plugin_dir_turns_the_mirror_off(tmp_path: Path) -> None:
    assert tf.find_plugin_dir({"TF_PLUGIN_DIR": ""}, candidates=[_mirror(tmp_path)]) is None


def test_mirror_is_detected_by_its_aws_provider(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    mirror = _mirror(tmp_path / "mirror")
    assert tf.find_plugin_dir({}, candidates=[empty, mirror]) == mirror
    assert tf.find_plugin_dir({}, candidates=[empty]) is None


def test_init_passes_plugin_dir_only_when_there_is_a_mirror(tmp_path: Path) -> None:
    binary = tmp_path / "terraform"
    binary.write_text("")
    with_mirror = tf.Terraform(tmp_path, binary=str(binary), plugin_dir=_mirror(tmp_path / "m"))
    assert f"-plugin-dir={tmp_path / 'm'}" in with_mirror.init_args()
    assert "-backend=false" in with_mirror.init_args()
    without = tf.Terraform(tmp_path, binary=str(binary), plugin_dir=None)
    assert not [a for a in without.init_args(backend=True) if a.startswith(("-plugin-dir", "-backend"))]


def test_data_dir_keeps_state_out_of_the_tree(tmp_path: Path) -> None:
    runner = tf.Terraform(tmp_path, binary="terraform", data_dir=tmp_path / "data", env={"PATH": ""})
    env = runner.environment()
    assert env["TF_DATA_DIR"] == str(tmp_path / "data")
    assert env["TF_INPUT"] == "0"


def test_missing_terraform_is_a_clear_error(tmp_path: Path) -> None:
    assert tf.find_terraform({"PATH": str(tmp_path)}) is None
    with pytest.raises(tf.TerraformNotFoundError, match="terraform not found"):
        tf.Terraform(tmp_path, env={"PATH": str(tmp_path)})


def test_var_args_are_sorted_and_explicit(tmp_path: Path) -> None:
    args = tf.Terraform._var_args({"b": "2", "a": "1"}, tmp_path / "x.tfvars")
    assert args == ["-var=a=1", "-var=b=2", f"-var-file={tmp_path / 'x.tfvars'}"]
