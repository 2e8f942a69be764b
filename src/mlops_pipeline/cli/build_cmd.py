"""``mlops-pipeline build``: what CodeBuild runs on a checkout of the model project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        project_dir: Annotated[
            Path | None,
            typer.Argument(
                help="The model project checkout (train.py, mlops.toml); default: the current folder.",
                exists=True,
                file_okay=False,
            ),
        ] = None,
        source: Annotated[
            Path | None,
            typer.Option("--source", help="Same as PROJECT_DIR.", exists=True, file_okay=False),
        ] = None,
        tracking_uri: Annotated[
            str | None, typer.Option(help="MLflow tracking server.", envvar="MLFLOW_TRACKING_URI")
        ] = None,
        exports_file: Annotated[
            Path | None,
            typer.Option(
                "--exports-file",
                "--env-file",
                help="Write MODEL_NAME, MODEL_VERSION, ARTIFACT_URI, ARTIFACT_KIND, ARTIFACT_SHA256, RUN_ID "
                "here as KEY=value lines.",
                envvar="MLOPS_EXPORTS_FILE",
            ),
        ] = None,
        image_store: Annotated[
            Path | None,
            typer.Option(
                help="Image path only: write the image to this local image store instead of docker "
                "buildx build + push (default: $MLOPS_LOCAL_STATE/images when that is set)."
            ),
        ] = None,
    ) -> None:
        """Train under an MLflow run, register the model version, publish its serving artifact (zip or image)."""
        from rich.console import Console
        from rich.text import Text

        from mlops_pipeline.domain.errors import PipelineError
        from mlops_pipeline.model_build.errors import BuildError
        from mlops_pipeline.model_build.runner import Builder, BuildSettings, write_exports

        console = Console(stderr=True, highlight=False)

        def progress(message: str) -> None:
            # Text, not markup: paths and error messages may contain brackets.
            console.print(Text("==> ", style="bold cyan") + Text(message))

        if source is not None and project_dir is not None and source.resolve() != project_dir.resolve():
            raise typer.BadParameter("give the project either as PROJECT_DIR or as --source, not both")
        project = source or project_dir or Path(".")
        try:
            settings = BuildSettings.from_env(project, tracking_uri=tracking_uri, image_store=image_store)
            result = Builder(settings, progress=progress).run()
        except (BuildError, PipelineError) as exc:
            console.print(Text("build failed: ", style="bold red") + Text(f"{type(exc).__name__}: {exc}"))
            raise typer.Exit(1) from exc
        if exports_file is not None:
            write_exports(exports_file, result.exported())
            progress(f"exported variables written to {exports_file}")
        for key, value in result.exported().items():
            typer.echo(f"{key}={value}")
