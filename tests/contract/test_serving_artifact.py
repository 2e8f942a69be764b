"""The AWS serving zip, opened: machine code for the configured architecture, the serving set only.

The emulator runs the host-platform build of the zip, so it cannot show what AWS would run.
Here the build makes the AWS artifact on this (x86_64) machine, as CodeBuild does: the real
``pip download`` of manylinux wheels for the configured architecture (the first run fetches
them; they are cached under ``.cache/wheels``, keyed by the set), then the zip exactly as the
build uploads it. Every shared object in it must be an ELF for that architecture's machine
(parsed here from the ELF header), and it may hold no top-level package beyond the serving set.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_pipeline.domain.models import ArtifactKind
from mlops_pipeline.model_build import artifact, bundle, wheels
from mlops_pipeline.model_build.export import export_onnx, export_skops

pytestmark = [pytest.mark.contract, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WHEEL_CACHE = REPO / ".cache" / "wheels"
# e_machine of the ELF header (System V ABI): what Lambda's CPU executes per architecture.
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
ELF_MAGIC = b"\x7fELF"


def elf_machine(header: bytes) -> int:
    """``e_machine`` of an ELF file's header (byte order from EI_DATA); ValueError if not ELF."""
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        raise ValueError("not an ELF file")
    byte_order = {1: "<", 2: ">"}.get(header[5])  # EI_DATA: 1 little-endian, 2 big-endian
    if byte_order is None:
        raise ValueError(f"unknown ELF data encoding {header[5]}")
    (machine,) = struct.unpack_from(f"{byte_order}H", header, 18)  # after e_ident[16] and e_type
    return int(machine)


def is_shared_object(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".so") or ".so." in base


class RecordingS3:
    """Keeps what the build uploads, as S3 would (a versioned bucket)."""

    def __init__(self) -> None:
        self.body = b""

    def put_object(self, **kwargs: Any) -> dict[str, str]:
        self.body = kwargs["Body"].read()
        return {"VersionId": "v1"}


def aws_zip(tmp_path: Path, flavor: str, architecture: str) -> tuple[bytes, artifact.Staged]:
    """The build's AWS zip for a small model of ``flavor`` and the staged task root behind it."""
    from sklearn.neighbors import KNeighborsRegressor

    rows = np.random.default_rng(0).normal(size=(20, 3))
    model = KNeighborsRegressor(n_neighbors=1).fit(rows, rows.sum(axis=1))
    export = export_onnx if flavor == "onnx" else export_skops
    export(model, ["a", "b", "c"], tmp_path / "model", 100)
    settings = artifact.ArtifactSettings(
        architecture=architecture, platform="lambda", artifacts_bucket="artifacts", wheel_cache=WHEEL_CACHE
    )
    staged = artifact.stage(settings, flavor, tmp_path / "model", tmp_path / "work", "zip", print)
    s3 = RecordingS3()
    published, _ = artifact.publish(settings, staged, "contract", "1", tmp_path / "work", print, s3_client=s3)
    assert published.kind is ArtifactKind.ZIP
    return s3.body, staged


@pytest.fixture(scope="module", params=[("onnx", "arm64"), ("onnx", "x86_64"), ("skops", "arm64")], ids=str)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, zipfile.ZipFile, artifact.Staged]]:
    flavor, architecture = request.param
    data, staged = aws_zip(tmp_path_factory.mktemp(f"{flavor}-{architecture}"), flavor, architecture)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        yield flavor, architecture, archive, staged


def test_elf_header_parser_knows_this_machines_own_binaries() -> None:
    # The parser itself, on a shared object this interpreter has loaded (x86-64 here).
    import numpy.linalg._umath_linalg as native

    machine = elf_machine(Path(str(native.__file__)).read_bytes()[:64])
    assert machine in ELF_MACHINES.values()
    with pytest.raises(ValueError, match="not an ELF"):
        elf_machine(b"#!/bin/sh\n" + b"\0" * 30)


def test_every_shared_object_is_built_for_the_configured_architecture(
    built: tuple[str, str, zipfile.ZipFile, artifact.Staged],
) -> None:
    flavor, architecture, archive, _ = built
    objects = [name for name in archive.namelist() if is_shared_object(name)]
    assert len(objects) >= 3, objects  # numpy's, its bundled OpenBLAS, the runtime's
    wrong = {}
    for name in objects:
        with archive.open(name) as handle:
            machine = elf_machine(handle.read(64))
        if machine != ELF_MACHINES[architecture]:
            wrong[name] = machine
    assert not wrong, f"{flavor}/{architecture}: shared objects for another machine: {wrong}"


def test_the_zip_holds_the_serving_set_and_nothing_else(
    built: tuple[str, str, zipfile.ZipFile, artifact.Staged],
) -> None:
    flavor, _, archive, staged = built
    top = {name.split("/", 1)[0] for name in archive.namelist()}
    packages = {name for name in top if not name.endswith(".dist-info")}
    assert packages <= wheels.allowed_top_level(flavor), packages - wheels.allowed_top_level(flavor)
    assert {"serving", "model"} <= packages
    distributions = {name.split("-", 1)[0].replace("_", "-").lower() for name in top - packages}
    assert distributions == {name.lower() for name in wheels.SERVING_SETS[flavor]}
    # Never the training stack, the registry client or this package.
    assert not {
        n for n in top if n.split(".")[0] in ("pandas", "mlflow", "mlops_pipeline", "skl2onnx", "onnx")
    }
    # It fits Lambda's zip limit (the default path never needs the image).
    unzipped = sum(info.file_size for info in archive.infolist())
    assert abs(unzipped - staged.unzipped) < 4096 and unzipped <= bundle.ZIP_LIMIT_BYTES
