"""``--git-host``: refused before anything starts when unknown or with --terraform; carried to the daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_pipeline.cli.main import app
from mlops_pipeline.local.stack import daemon
from mlops_pipeline.local.stack.state import DAEMON_LOG, StackOptions


@pytest.mark.parametrize("host", ["codecommit", "github", "gitlab"])
def test_the_daemon_gets_the_git_host(tmp_path: Path, host: str) -> None:
    options = StackOptions(state_dir=tmp_path.resolve(), git_host=host)
    assert daemon.parse_args(options.to_argv()) == options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--git-host", "bitbucket"], "must be one of codecommit, github, gitlab"),
        (["--git-host", "github", "--terraform"], "not provisioned by --terraform"),
    ],
)
def test_local_up_refuses_before_starting(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["local", "up", "--state-dir", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # rich wraps the error in a box
    assert not (tmp_path / DAEMON_LOG).exists()
