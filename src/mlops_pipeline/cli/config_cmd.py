"""``mlops-pipeline config-doc``: print the settings table (docs/configuration.md)."""

from __future__ import annotations

import typer

from mlops_pipeline import config


def register(app: typer.Typer) -> None:
    @app.command("config-doc")
    def config_doc() -> None:
        """Print the Markdown table of every Lambda setting."""
        typer.echo(config.render_markdown(), nl=False)
