"""``mlops-pipeline build``: what CodeBuild runs on a checkout of the model project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        project_dir: Annotated[
            Path,
            typer.Argument(
                help="The model project checkout (train.py, mlops.toml).", exists=True, file_okay=False
            ),
        ] = Path("."),
        tracking_uri: Annotated[
            str | None, typer.Option(help="MLflow tracking server [env: MLFLOW_TRACKING_URI].")
        ] = None,
        exports_file: Annotated[
            Path | None,
            typer.Option(
                help="Write MODEL_NAME, MODEL_VERSION, IMAGE_URI, RUN_ID here as KEY=value lines "
                "[env: MLOPS_EXPORTS_FILE]."
            ),
        ] = None,
        image_store: Annotated[
            Path | None,
            typer.Option(
                help="Local image store root: write the image there instead of docker build/push "
                "[default with MLOPS_LOCAL_STATE: $MLOPS_LOCAL_STATE/images; without a Docker "
                "engine: ./.mlops-local/images]."
            ),
        ] = None,
    ) -> None:
        """Train under an MLflow run, register the model version, build and push its serving image."""
        from rich.console import Console

        from mlops_pipeline.build.errors import BuildError
        from mlops_pipeline.build.runner import Builder, BuildSettings, write_exports
        from mlops_pipeline.domain.errors import PipelineError

        console = Console(stderr=True, highlight=False)

        def progress(message: str) -> None:
            console.print(f"[bold cyan]==>[/] {message}")

        try:
            settings = BuildSettings.from_env(project_dir, tracking_uri=tracking_uri, image_store=image_store)
            result = Builder(settings, progress=progress).run()
        except (BuildError, PipelineError) as exc:
            console.print(f"[bold red]build failed:[/] {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from exc
        target = exports_file or (
            Path(os.environ["MLOPS_EXPORTS_FILE"]) if os.environ.get("MLOPS_EXPORTS_FILE") else None
        )
        if target is not None:
            write_exports(target, result.exported())
            progress(f"exported variables written to {target}")
        for key, value in result.exported().items():
            typer.echo(f"{key}={value}")
