"""``mlops-pipeline package``: build the Lambda zips and manifest.json Terraform reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("package")
    def package(
        out: Annotated[Path, typer.Option(help="Output directory for the zips and manifest.json.")] = Path(
            "dist/lambda"
        ),
        platform: Annotated[
            str,
            typer.Option(
                help="lambda: manylinux / CPython 3.12 wheels for --architecture; host: this interpreter."
            ),
        ] = "lambda",
        architecture: Annotated[
            str,
            typer.Option(help="arm64 or x86_64: Terraform's lambda_architecture (the wheels' platform tag)."),
        ] = "arm64",
        only: Annotated[
            list[str] | None, typer.Option("--only", help="Build only this package (core, registry).")
        ] = None,
    ) -> None:
        """Build reproducible Lambda packages (core.zip, registry.zip), placeholder.zip and manifest.json."""
        from mlops_pipeline import packaging

        if platform not in ("lambda", "host"):
            raise typer.BadParameter("must be 'lambda' or 'host'", param_hint="--platform")
        if architecture not in ("arm64", "x86_64"):
            raise typer.BadParameter("must be 'arm64' or 'x86_64'", param_hint="--architecture")
        try:
            manifest = packaging.build_all(
                out,
                platform,  # type: ignore[arg-type]
                only or None,
                architecture=architecture,
            )
        except packaging.PackagingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        for _name, info in sorted(manifest.packages.items()):
            typer.echo(f"{out / info.path}  {info.size:>10} bytes  sha256:{info.sha256}")
        typer.echo(f"{out / 'manifest.json'}")
