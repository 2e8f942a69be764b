"""A small Terraform runner: finds ``terraform`` and the provider mirror, runs commands.

Used by the Terraform tests and by ``mlops-pipeline local up``. When a provider mirror
exists (``TF_PLUGIN_DIR``, or auto-detected, e.g. ``/opt/tf-plugins``) ``init`` gets
``-plugin-dir`` so no registry access is needed; otherwise it is a plain ``init`` that
downloads from the registry. ``TF_DATA_DIR`` keeps ``.terraform/`` out of the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_pipeline.domain.errors import PipelineError

# The layout of terraform/ in this repository (used by the tests and `mlops-pipeline local up`).
MODULES = ("pipeline", "target_account", "mlflow", "network", "chatbot", "s3_bucket")
ROOTS = ("live/aws", "live/local")
LOCAL_ROOT = "live/local"

# Where a provider mirror (a filesystem mirror laid out as registry.terraform.io/...) is looked for.
PLUGIN_DIR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path("/usr/share/terraform/plugins"),
    Path("/usr/local/share/terraform/plugins"),
)


class TerraformNotFoundError(PipelineError):
    """No ``terraform`` binary on PATH (or at ``TERRAFORM``)."""


class TerraformError(PipelineError):
    """A terraform command exited non-zero."""

    def __init__(self, message: str, returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def find_terraform(env: Mapping[str, str] | None = None) -> str | None:
    """Path of the terraform binary (``TERRAFORM`` env wins, then PATH), or None."""
    source = os.environ if env is None else env
    explicit = source.get("TERRAFORM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("terraform", path=source.get("PATH"))


def _has_aws_provider(root: Path) -> bool:
    return any(root.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*"))


def find_plugin_dir(
    env: Mapping[str, str] | None = None, candidates: Sequence[Path] = PLUGIN_DIR_CANDIDATES
) -> Path | None:
    """The provider mirror to pass as ``-plugin-dir``, or None to use the registry.

    ``TF_PLUGIN_DIR`` wins (an empty value turns the mirror off); otherwise the first
    candidate holding a ``terraform-provider-aws_*`` binary.
    """
    source = os.environ if env is None else env
    if "TF_PLUGIN_DIR" in source:
        value = source["TF_PLUGIN_DIR"]
        return Path(value) if value else None
    for candidate in candidates:
        if candidate.is_dir() and _has_aws_provider(candidate):
            return candidate
    return None


class Terraform:
    """Runs terraform in one working directory with its own data dir."""

    def __init__(
        self,
        workdir: Path,
        *,
        data_dir: Path | None = None,
        binary: str | None = None,
        plugin_dir: Path | bool | None = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``plugin_dir=True`` auto-detects the mirror, ``False``/``None`` never uses one."""
        found = binary or find_terraform(env)
        if not found:
            raise TerraformNotFoundError("terraform not found on PATH; install Terraform >= 1.9")
        self.binary = found
        self.workdir = Path(workdir)
        self.data_dir = data_dir
        self.plugin_dir: Path | None
        if plugin_dir is True:
            self.plugin_dir = find_plugin_dir(env)
        elif isinstance(plugin_dir, Path):
            self.plugin_dir = plugin_dir
        else:
            self.plugin_dir = None
        self._env = dict(os.environ if env is None else env)

    def environment(self) -> dict[str, str]:
        env = dict(self._env)
        env["TF_IN_AUTOMATION"] = "1"
        env["TF_INPUT"] = "0"
        env.setdefault("CHECKPOINT_DISABLE", "1")
        if self.data_dir is not None:
            env["TF_DATA_DIR"] = str(self.data_dir)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <args>`` in the working directory; TerraformError when it fails and check."""
        cmd = [self.binary, *args]
        result = subprocess.run(
            cmd,
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args)} failed in {self.workdir} ({result.returncode}):\n"
                f"{result.stderr[-6000:]}{result.stdout[-2000:]}",
                result.returncode,
                result.stdout,
                result.stderr,
            )
        return result

    def init_args(self, *, backend: bool = False) -> list[str]:
        args = ["init", "-input=false", "-no-color"]
        if not backend:
            args.append("-backend=false")
        if self.plugin_dir is not None:
            args.append(f"-plugin-dir={self.plugin_dir}")
        return args

    def init(self, *, backend: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run(*self.init_args(backend=backend))

    def validate(self) -> dict[str, Any]:
        result = self.run("validate", "-json", "-no-color", check=False)
        data: dict[str, Any] = json.loads(result.stdout or "{}")
        if not data.get("valid"):
            raise TerraformError(
                f"terraform validate failed in {self.workdir}:\n{result.stdout}{result.stderr}",
                result.returncode,
                result.stdout,
                result.stderr,
            )
        return data

    def apply(
        self, variables: Mapping[str, str] | None = None, *, var_file: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "apply", "-auto-approve", "-input=false", "-no-color", *self._var_args(variables, var_file)
        )

    def destroy(
        self, variables: Mapping[str, str] | None = None, *, var_file: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "destroy", "-auto-approve", "-input=false", "-no-color", *self._var_args(variables, var_file)
        )

    def output(self) -> dict[str, Any]:
        """``terraform output -json`` as {name: value}."""
        raw: dict[str, Any] = json.loads(self.run("output", "-json", "-no-color").stdout or "{}")
        return {name: spec.get("value") for name, spec in raw.items()}

    def test(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("test", "-no-color", *extra)

    @staticmethod
    def _var_args(variables: Mapping[str, str] | None, var_file: Path | None) -> list[str]:
        args = [f"-var={k}={v}" for k, v in sorted((variables or {}).items())]
        if var_file is not None:
            args.append(f"-var-file={var_file}")
        return args
