"""``mlops-pipeline train`` / ``register`` / ``build``: what the two CodeBuild projects run.

``train`` is the untrusted step (the author's ``train.py``, no pipeline credentials) and writes
the training output; ``register`` is the trusted step and registers that output; ``build``
runs both in one process, for a developer's machine.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

ProjectArg = Annotated[
    Path | None,
    typer.Argument(
        help="The model project checkout (train.py, mlops.toml); default: the current folder.",
        exists=True,
        file_okay=False,
    ),
]
SourceOpt = Annotated[
    Path | None, typer.Option("--source", help="Same as PROJECT_DIR.", exists=True, file_okay=False)
]
TrackingOpt = Annotated[
    str | None, typer.Option(help="MLflow tracking server.", envvar="MLFLOW_TRACKING_URI")
]
ExportsOpt = Annotated[
    Path | None,
    typer.Option(
        "--exports-file",
        "--env-file",
        help="Write MODEL_NAME, MODEL_VERSION, ARTIFACT_URI, ARTIFACT_KIND, ARTIFACT_SHA256, RUN_ID "
        "here as KEY=value lines.",
        envvar="MLOPS_EXPORTS_FILE",
    ),
]
ImageStoreOpt = Annotated[
    Path | None,
    typer.Option(
        help="Image path only: write the image to this local image store instead of docker "
        "buildx build + push (default: $MLOPS_LOCAL_STATE/images when that is set)."
    ),
]
TrainOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--train-output",
        help="Where the training output goes (train) or comes from (register): s3://bucket/key or a "
        "local .tar.gz path; default: s3://$ARTIFACTS_BUCKET/$TRAIN_OUTPUT_KEY.",
    ),
]


def _project(project_dir: Path | None, source: Path | None) -> Path:
    if source is not None and project_dir is not None and source.resolve() != project_dir.resolve():
        raise typer.BadParameter("give the project either as PROJECT_DIR or as --source, not both")
    return source or project_dir or Path(".")


@contextlib.contextmanager
def _step(what: str) -> Iterator[Callable[[str], None]]:
    """Progress lines on stderr; a build error ends the command with its message and exit code 1.

    stdout carries only KEY=value lines: MLflow's own chatter (it prints run links) goes to stderr.
    """
    from rich.console import Console
    from rich.text import Text

    from mlops_pipeline.domain.errors import PipelineError
    from mlops_pipeline.model_build.errors import BuildError

    console = Console(stderr=True, highlight=False)

    def progress(message: str) -> None:
        # Text, not markup: paths and error messages may contain brackets.
        console.print(Text("==> ", style="bold cyan") + Text(message))

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield progress
    except (BuildError, PipelineError) as exc:
        console.print(Text(f"{what} failed: ", style="bold red") + Text(f"{type(exc).__name__}: {exc}"))
        raise typer.Exit(1) from exc


def _output_uri(given: str | None) -> str:
    import os

    from mlops_pipeline.model_build.train_step import default_output_uri

    uri = given or default_output_uri(os.environ)
    if not uri:
        raise typer.BadParameter("give --train-output (or set ARTIFACTS_BUCKET and TRAIN_OUTPUT_KEY)")
    return uri


def _print_exports(
    values: dict[str, str], exports_file: Path | None, progress: Callable[[str], None]
) -> None:
    from mlops_pipeline.model_build.runner import write_exports

    if exports_file is not None:
        write_exports(exports_file, values)
        progress(f"exported variables written to {exports_file}")
    for key, value in values.items():
        typer.echo(f"{key}={value}")


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        project_dir: ProjectArg = None, source: SourceOpt = None, train_output: TrainOutputOpt = None
    ) -> None:
        """Untrusted step: run train.py against a local MLflow store, export, write the training output."""
        import os

        from mlops_pipeline.model_build import train_output as output_mod
        from mlops_pipeline.model_build.train_step import Trainer, TrainSettings, refuse_credentials

        project = _project(project_dir, source).resolve()
        destination = _output_uri(train_output)
        with _step("training") as progress, tempfile.TemporaryDirectory(prefix="mlops-train-out-") as tmp:
            refuse_credentials(os.environ)
            out = Path(tmp) / "output"
            Trainer(TrainSettings(project, env=dict(os.environ)), progress).run(out)
            tarball = Path(tmp) / "output.tar.gz"
            output_mod.pack(out, tarball)
            output_mod.upload(tarball, destination)
            progress(f"training output ({tarball.stat().st_size / 2**20:.1f} MiB) written to {destination}")

    @app.command("register")
    def register_(
        project_dir: ProjectArg = None,
        source: SourceOpt = None,
        train_output: TrainOutputOpt = None,
        tracking_uri: TrackingOpt = None,
        exports_file: ExportsOpt = None,
        image_store: ImageStoreOpt = None,
    ) -> None:
        """Trusted step: verify the training output, register it in MLflow, publish the serving artifact."""
        from mlops_pipeline.model_build import train_output as output_mod
        from mlops_pipeline.model_build.runner import BuildSettings, Registrar

        project = _project(project_dir, source)
        origin = _output_uri(train_output)
        with (
            _step("registration") as progress,
            tempfile.TemporaryDirectory(prefix="mlops-register-in-") as tmp,
        ):
            tarball = Path(tmp) / "output.tar.gz"
            output_mod.download(origin, tarball)
            output_mod.safe_extract(tarball, Path(tmp) / "output")
            settings = BuildSettings.from_env(project, tracking_uri=tracking_uri, image_store=image_store)
            result = Registrar(settings, progress=progress).run(Path(tmp) / "output")
        _print_exports(result.exported(), exports_file, progress)

    @app.command("build")
    def build(
        project_dir: ProjectArg = None,
        source: SourceOpt = None,
        tracking_uri: TrackingOpt = None,
        exports_file: ExportsOpt = None,
        image_store: ImageStoreOpt = None,
    ) -> None:
        """Both steps in one process (a developer's machine): train, then register and publish.

        Not a trust boundary: train.py runs as a child of the process that holds the MLflow
        credentials. The pipeline runs `train` and `register` as two CodeBuild projects."""
        from mlops_pipeline.model_build.runner import Builder, BuildSettings

        project = _project(project_dir, source)
        with _step("build") as progress:
            settings = BuildSettings.from_env(project, tracking_uri=tracking_uri, image_store=image_store)
            result = Builder(settings, progress=progress).run()
        _print_exports(result.exported(), exports_file, progress)
