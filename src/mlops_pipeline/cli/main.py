"""The ``mlops-pipeline`` command.

Sub-commands live in sibling modules that expose ``register(app: typer.Typer) -> None``;
they are imported lazily here so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="mlops-pipeline",
    help="Serverless MLOps pipeline for AWS: build, deploy, approve in Slack, promote.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Serverless MLOps pipeline for AWS: build, deploy, approve in Slack, promote."""


# Modules under mlops_pipeline.cli that add commands; a missing one is skipped so that
# parts of the project can land independently.
_COMMAND_MODULES = (
    "config_cmd",
    "build_cmd",
    "package_cmd",
    "local_cmd",
    "runs_cmd",
    "doctor_cmd",
    "rollback_cmd",
)

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"mlops_pipeline.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"mlops_pipeline.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()
