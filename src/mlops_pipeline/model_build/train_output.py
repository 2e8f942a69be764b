"""What crosses from the untrusted training step to the trusted registration step.

The training step runs the model author's code, so everything it writes is untrusted data.
It is one directory (a gzip tarball between the two CodeBuild projects):

- ``train_output.json``: the manifest below (run metrics, params and tags, the signature's
  columns, the smoke input, the export summary, library versions);
- ``run_artifacts/``: the run's own artifacts (``mlflow.log_artifact``);
- ``logged_model/``: the logged model's files (MLmodel, the pickle...), copied into MLflow by
  the trusted step and never loaded there;
- ``export/``: the serving export (``model.onnx`` or ``model.skops`` plus its serving manifest);
- ``parity.npz``: the parity rows and the trained model's own predictions on them.

The trusted step reads only this format: JSON with strict types and sizes, ``numpy.load``
without pickles, files copied from the known folders. The tarball is extracted member by
member with regular files and folders only (no links, devices, absolute paths or ``..``) and
a cap on its total size.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from mlops_pipeline.model_build.errors import BuildError

FORMAT_VERSION = 1
MANIFEST_FILE = "train_output.json"
RUN_ARTIFACTS = "run_artifacts"
LOGGED_MODEL = "logged_model"
EXPORT = "export"
PARITY_FILE = "parity.npz"
# Caps on what the untrusted step may hand over (MLflow's own limits where it has them).
MAX_BYTES = 2 * 2**30
MAX_FILES = 10_000
MAX_METRIC_POINTS = 100_000
MAX_PARAMS = 1_000
MAX_TAGS = 1_000
MAX_KEY = 250
MAX_PARAM_VALUE = 6_000
MAX_TAG_VALUE = 8_000


class TrainOutputError(BuildError):
    """The training step's output is missing, malformed or over a limit."""


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class TrainManifest:
    """The training step's account of its run (all of it written by untrusted code)."""

    model_name: str
    columns: tuple[str, ...]
    metrics: tuple[MetricPoint, ...]
    params: dict[str, str]
    tags: dict[str, str]
    logged_model_name: str
    smoke_input: dict[str, Any] | None
    flavor: str
    fallback_reason: str | None
    versions: dict[str, str] = field(default_factory=dict)

    def latest_metrics(self) -> dict[str, float]:
        """Each metric's value at its highest step (latest timestamp on ties), as MLflow shows it."""
        latest: dict[str, MetricPoint] = {}
        for point in self.metrics:
            seen = latest.get(point.key)
            if seen is None or (point.step, point.timestamp) >= (seen.step, seen.timestamp):
                latest[point.key] = point
        return {key: point.value for key, point in latest.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "model_name": self.model_name,
            "columns": list(self.columns),
            "metrics": [[p.key, p.value, p.step, p.timestamp] for p in self.metrics],
            "params": self.params,
            "tags": self.tags,
            "logged_model_name": self.logged_model_name,
            "smoke_input": self.smoke_input,
            "flavor": self.flavor,
            "fallback_reason": self.fallback_reason,
            "versions": self.versions,
        }

    def write(self, directory: Path) -> None:
        (directory / MANIFEST_FILE).write_text(json.dumps(self.to_dict(), indent=1, allow_nan=True))

    @classmethod
    def read(cls, directory: Path) -> TrainManifest:
        path = directory / MANIFEST_FILE
        if not path.is_file():
            raise TrainOutputError(f"the training step wrote no {MANIFEST_FILE}")
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise TrainOutputError(f"{MANIFEST_FILE} is not JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> TrainManifest:
        """Validate every field's type and size; anything unexpected is a TrainOutputError."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise TrainOutputError(f"{MANIFEST_FILE}: not format {FORMAT_VERSION}")
        metrics = _list(data, "metrics", MAX_METRIC_POINTS)
        points = []
        for item in metrics:
            if not (isinstance(item, list) and len(item) == 4):
                raise TrainOutputError(f"{MANIFEST_FILE}: a metric is not [key, value, step, timestamp]")
            key, value, step, timestamp = item
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TrainOutputError(f"{MANIFEST_FILE}: metric {key!r} has a non-numeric value")
            points.append(MetricPoint(_key(key), float(value), _int(step), _int(timestamp)))
        smoke = data.get("smoke_input")
        if smoke is not None and not isinstance(smoke, dict):
            raise TrainOutputError(f"{MANIFEST_FILE}: smoke_input must be an object")
        flavor = data.get("flavor")
        if flavor not in ("onnx", "skops"):
            raise TrainOutputError(f"{MANIFEST_FILE}: flavor must be onnx or skops, not {flavor!r}")
        reason = data.get("fallback_reason")
        columns = _list(data, "columns", 10_000)
        return cls(
            model_name=_text(data.get("model_name"), "model_name", MAX_KEY),
            columns=tuple(_text(c, "a column", MAX_KEY) for c in columns),
            metrics=tuple(points),
            params=_strings(data, "params", MAX_PARAMS, MAX_PARAM_VALUE),
            tags=_strings(data, "tags", MAX_TAGS, MAX_TAG_VALUE),
            logged_model_name=_text(data.get("logged_model_name"), "logged_model_name", MAX_KEY),
            smoke_input=smoke,
            flavor=str(flavor),
            fallback_reason=None if reason is None else _text(reason, "fallback_reason", MAX_TAG_VALUE),
            versions=_strings(data, "versions", 20, MAX_KEY),
        )


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise TrainOutputError(f"{MANIFEST_FILE}: {what} must be a string of 1-{limit} characters")
    return value


def _key(value: Any) -> str:
    return _text(value, "a metric, param or tag key", MAX_KEY)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TrainOutputError(f"{MANIFEST_FILE}: metric step and timestamp must be integers")
    return value


def _list(data: Mapping[str, Any], name: str, limit: int) -> list[Any]:
    value = data.get(name)
    if not isinstance(value, list) or len(value) > limit:
        raise TrainOutputError(f"{MANIFEST_FILE}: {name} must be a list of at most {limit} items")
    return value


def _strings(data: Mapping[str, Any], name: str, limit: int, value_limit: int) -> dict[str, str]:
    value = data.get(name)
    if not isinstance(value, dict) or len(value) > limit:
        raise TrainOutputError(f"{MANIFEST_FILE}: {name} must be an object of at most {limit} entries")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > value_limit:
            raise TrainOutputError(f"{MANIFEST_FILE}: {name}[{key!r}] must be a string of <= {value_limit}")
        out[_key(key)] = item
    return out


# -- the tarball between the two build projects ----------------------------------------------
def pack(directory: Path, tarball: Path) -> None:
    """Write ``directory``'s regular files and folders into a gzip tarball (links are skipped)."""
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            info = archive.gettarinfo(path, arcname=path.relative_to(directory).as_posix())
            if path.is_file():
                # A second hard link to a file would go in as a link member, which safe_extract
                # refuses: store every file's own bytes.
                info.type, info.linkname, info.size = tarfile.REGTYPE, "", path.stat().st_size
                with path.open("rb") as data:
                    archive.addfile(info, data)
            else:
                archive.addfile(info)


def safe_extract(tarball: Path, dest: Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> None:
    """Extract an untrusted tarball: regular files and folders inside ``dest`` only, size-capped."""
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = archive.getmembers()
            if len(members) > max_files:
                raise TrainOutputError(
                    f"the training output holds {len(members)} entries (limit {max_files})"
                )
            for member in members:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                    raise TrainOutputError(
                        f"the training output holds {member.name!r}, which is not a plain file or folder inside it"
                    )
                total += member.size
                if total > max_bytes:
                    raise TrainOutputError(f"the training output is larger than {max_bytes // 2**20} MiB")
            # The data filter is a second guard (it refuses the same things and strips modes).
            archive.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise TrainOutputError(f"the training output is not a readable tarball: {exc}") from exc


# -- where it travels: s3://bucket/key, or a local path ----------------------------------------
def upload(tarball: Path, destination: str, s3_client: Any = None) -> None:
    """Copy the tarball to ``s3://bucket/key`` or to a local file path."""
    parsed = urlparse(destination)
    if parsed.scheme == "s3":
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        s3_client.upload_file(str(tarball), parsed.netloc, parsed.path.lstrip("/"))
        return
    target = Path(parsed.path if parsed.scheme == "file" else destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tarball, target)


def download(source: str, tarball: Path, s3_client: Any = None) -> None:
    """Fetch the training output from ``s3://bucket/key`` or a local file path."""
    parsed = urlparse(source)
    if parsed.scheme == "s3":
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        try:
            s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(tarball))
        except Exception as exc:  # botocore's ClientError and transfer errors alike
            raise TrainOutputError(f"cannot read the training output {source}: {exc}") from exc
        return
    path = Path(parsed.path if parsed.scheme == "file" else source)
    if not path.is_file():
        raise TrainOutputError(f"the training output {source} does not exist")
    shutil.copyfile(path, tarball)
