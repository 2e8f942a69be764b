"""The format between the untrusted training step and the trusted registration step."""

from __future__ import annotations

import copy
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_pipeline.model_build import train_output
from mlops_pipeline.model_build.errors import BuildError
from mlops_pipeline.model_build.register_step import is_reserved
from mlops_pipeline.model_build.train_output import (
    MetricPoint,
    TrainManifest,
    TrainOutputError,
    pack,
    safe_extract,
)


# -- safe_extract ------------------------------------------------------------------------------
def _file(name: str, data: bytes = b"ok") -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _tarball(path: Path, members: list[tuple[tarfile.TarInfo, io.BytesIO | None]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, data)
    return path


def _everything_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


HOSTILE: dict[str, list[tuple[tarfile.TarInfo, io.BytesIO | None]]] = {
    # A plain file first: the refusal must come before anything is extracted.
    "symlink": [_file("ok.txt"), _special("model/MLmodel", tarfile.SYMTYPE, "/etc/passwd")],
    "symlink-dir": [_file("ok.txt"), _special("export", tarfile.SYMTYPE, "../../outside")],
    "hardlink": [_file("ok.txt"), _special("stolen", tarfile.LNKTYPE, "/etc/passwd")],
    "absolute": [_file("ok.txt"), _file("/tmp/mlops-evil-absolute.txt")],
    "dotdot": [_file("ok.txt"), _file("../outside.txt")],
    "dotdot-nested": [_file("ok.txt"), _file("export/../../outside.txt")],
    "char-device": [_file("ok.txt"), _special("tty", tarfile.CHRTYPE)],
    "block-device": [_file("ok.txt"), _special("disk", tarfile.BLKTYPE)],
    "fifo": [_file("ok.txt"), _special("pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_safe_extract_refuses_anything_but_plain_files_inside_dest(case: str, tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "out.tar.gz", HOSTILE[case])
    with tarfile.open(tarball, "r:gz") as archive:  # the hostile name really is in the archive
        assert len(archive.getmembers()) == 2
    dest = tmp_path / "work" / "dest"
    with pytest.raises(TrainOutputError, match="not a plain file or folder"):
        safe_extract(tarball, dest)
    assert _everything_under(dest) == set()  # not even the good member before it
    assert _everything_under(tmp_path) == {"out.tar.gz", "work", "work/dest"}
    assert not Path("/tmp/mlops-evil-absolute.txt").exists()


def test_safe_extract_refuses_too_many_members(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "out.tar.gz", [_file(f"f{i}.txt") for i in range(4)])
    dest = tmp_path / "dest"
    with pytest.raises(TrainOutputError, match=r"holds 4 entries \(limit 3\)"):
        safe_extract(tarball, dest, max_files=3)
    assert _everything_under(dest) == set()
    safe_extract(tarball, tmp_path / "fits", max_files=4)  # the cap is the limit, not below it
    assert _everything_under(tmp_path / "fits") == {f"f{i}.txt" for i in range(4)}


def test_safe_extract_refuses_too_many_bytes_in_total(tmp_path: Path) -> None:
    # Each file is under the cap; together they are over it.
    tarball = _tarball(tmp_path / "out.tar.gz", [_file("a.bin", b"x" * 600), _file("b.bin", b"y" * 600)])
    dest = tmp_path / "dest"
    with pytest.raises(TrainOutputError, match="larger than"):
        safe_extract(tarball, dest, max_bytes=1000)
    assert _everything_under(dest) == set()
    safe_extract(tarball, tmp_path / "fits", max_bytes=1200)
    assert (tmp_path / "fits/b.bin").read_bytes() == b"y" * 600


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_text("not a tarball at all\n"),
        lambda path: path.write_bytes(b""),
        lambda path: _plain_tar(path),  # a tarball, but not gzip
        lambda path: path.write_bytes(_gzip_bytes()[:40]),  # a truncated gzip
    ],
    ids=["text", "empty", "uncompressed-tar", "truncated-gzip"],
)
def test_safe_extract_refuses_a_file_that_is_not_a_gzip_tarball(
    write: Callable[[Path], Any], tmp_path: Path
) -> None:
    tarball = tmp_path / "out.tar.gz"
    write(tarball)
    dest = tmp_path / "dest"
    with pytest.raises(TrainOutputError):
        safe_extract(tarball, dest)
    assert _everything_under(dest) == set()


def _plain_tar(path: Path) -> None:
    with tarfile.open(path, "w") as archive:
        info, data = _file("train_output.json", b"{}")
        archive.addfile(info, data)


def _gzip_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info, data = _file("big.bin", bytes(range(256)) * 64)
        archive.addfile(info, data)
    return buffer.getvalue()


def test_train_output_error_is_a_build_error() -> None:
    assert issubclass(TrainOutputError, BuildError)  # the CLI reports it and exits 1


# -- pack --------------------------------------------------------------------------------------
def _output_tree(root: Path) -> Path:
    (root / "export").mkdir(parents=True)
    (root / "logged_model").mkdir()
    (root / "run_artifacts/nested/deeper").mkdir(parents=True)
    (root / "train_output.json").write_text('{"format": 1}')
    (root / "export/model.onnx").write_bytes(bytes(range(256)) * 10)
    (root / "logged_model/MLmodel").write_text("flavors: {}\n")
    (root / "run_artifacts/nested/deeper/notes.txt").write_text("hello")
    (root / "run_artifacts/empty").mkdir()
    return root


def test_pack_then_safe_extract_round_trips_files_and_folders(tmp_path: Path) -> None:
    source = _output_tree(tmp_path / "out")
    pack(source, tmp_path / "out.tar.gz")
    dest = tmp_path / "dest"
    safe_extract(tmp_path / "out.tar.gz", dest)
    assert _everything_under(dest) == _everything_under(source)
    for path in source.rglob("*"):
        if path.is_file():
            assert (dest / path.relative_to(source)).read_bytes() == path.read_bytes()


def test_pack_skips_symlinks_to_files_and_folders(tmp_path: Path) -> None:
    source = _output_tree(tmp_path / "out")
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/inside.txt").write_text("password")
    (source / "logged_model/passwd").symlink_to("/etc/passwd")
    (source / "logged_model/secret").symlink_to(secret)
    (source / "run_artifacts/dir-link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (source / "export/dangling").symlink_to(tmp_path / "missing")
    pack(source, tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz", "r:gz") as archive:
        members = archive.getmembers()
    names = {m.name for m in members}
    assert names == {p for p in _everything_under(source) if not (source / p).is_symlink()}
    assert not any(n.endswith(("passwd", "secret", "dangling")) or "dir-link" in n for n in names)
    assert all(m.isfile() or m.isdir() for m in members)
    safe_extract(tmp_path / "out.tar.gz", tmp_path / "dest")
    assert not (tmp_path / "dest/logged_model/passwd").exists()
    assert "password" not in "".join(
        p.read_text(errors="replace") for p in (tmp_path / "dest").rglob("*") if p.is_file()
    )


# -- TrainManifest -----------------------------------------------------------------------------
VALID: dict[str, Any] = {
    "format": 1,
    "model_name": "delivery-time",
    "columns": ["a", "b"],
    "metrics": [["rmse", 2.5, 0, 1000], ["rmse", 1.5, 3, 900], ["rmse", 9.0, 1, 2000], ["mae", 1, 0, 5]],
    "params": {"n_neighbors": "1"},
    "tags": {"team": "ops"},
    "logged_model_name": "model",
    "smoke_input": {"columns": ["a", "b"], "data": [[1.0, 2.0]]},
    "flavor": "onnx",
    "fallback_reason": None,
    "versions": {"python": "3.11", "scikit-learn": "1.5.2"},
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def test_from_dict_reads_a_valid_manifest() -> None:
    manifest = TrainManifest.from_dict(copy.deepcopy(VALID))
    assert manifest.model_name == "delivery-time"
    assert manifest.columns == ("a", "b")
    assert manifest.metrics[3] == MetricPoint("mae", 1.0, 0, 5)
    assert isinstance(manifest.metrics[3].value, float)
    assert manifest.flavor == "onnx" and manifest.fallback_reason is None


REFUSED: dict[str, dict[str, Any] | Any] = {
    "not-an-object": ["format", 1],
    "no-format": {k: v for k, v in VALID.items() if k != "format"},
    "format-2": _with(("format",), 2),
    "format-as-text": _with(("format",), "1"),
    "model-name-int": _with(("model_name",), 7),
    "model-name-empty": _with(("model_name",), ""),
    "model-name-huge": _with(("model_name",), "m" * (train_output.MAX_KEY + 1)),
    "columns-not-list": _with(("columns",), "a,b"),
    "column-int": _with(("columns",), ["a", 2]),
    "column-huge": _with(("columns",), ["a", "c" * (train_output.MAX_KEY + 1)]),
    "metrics-not-list": _with(("metrics",), {"rmse": 1.0}),
    "metric-short": _with(("metrics",), [["rmse", 1.0, 0]]),
    "metric-value-text": _with(("metrics",), [["rmse", "1.0", 0, 0]]),
    "metric-value-bool": _with(("metrics",), [["rmse", True, 0, 0]]),
    "metric-value-null": _with(("metrics",), [["rmse", None, 0, 0]]),
    "metric-step-float": _with(("metrics",), [["rmse", 1.0, 0.5, 0]]),
    "metric-timestamp-bool": _with(("metrics",), [["rmse", 1.0, 0, False]]),
    "metric-key-huge": _with(("metrics",), [["k" * (train_output.MAX_KEY + 1), 1.0, 0, 0]]),
    "metric-key-int": _with(("metrics",), [[3, 1.0, 0, 0]]),
    "params-list": _with(("params",), [["a", "1"]]),
    "param-value-int": _with(("params", "n"), 1),
    "param-value-huge": _with(("params", "n"), "v" * (train_output.MAX_PARAM_VALUE + 1)),
    "param-key-huge": _with(("params",), {"p" * (train_output.MAX_KEY + 1): "1"}),
    "param-key-empty": _with(("params",), {"": "1"}),
    "tags-null": _with(("tags",), None),
    "tag-value-huge": _with(("tags", "t"), "v" * (train_output.MAX_TAG_VALUE + 1)),
    "tag-key-huge": _with(("tags",), {"t" * (train_output.MAX_KEY + 1): "x"}),
    "tag-value-object": _with(("tags", "t"), {"nested": "x"}),
    "too-many-tags": _with(("tags",), {f"t{i}": "x" for i in range(train_output.MAX_TAGS + 1)}),
    "too-many-params": _with(("params",), {f"p{i}": "x" for i in range(train_output.MAX_PARAMS + 1)}),
    "too-many-versions": _with(("versions",), {f"lib{i}": "1.0" for i in range(21)}),
    "logged-model-name-missing": _with(("logged_model_name",), None),
    "smoke-input-list": _with(("smoke_input",), [[1.0, 2.0]]),
    "flavor-pickle": _with(("flavor",), "pickle"),
    "flavor-missing": _with(("flavor",), None),
    "flavor-upper": _with(("flavor",), "ONNX"),
    "fallback-reason-int": _with(("fallback_reason",), 3),
    "fallback-reason-huge": _with(("fallback_reason",), "r" * (train_output.MAX_TAG_VALUE + 1)),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_from_dict_refuses_wrong_types_and_sizes(case: str) -> None:
    with pytest.raises(TrainOutputError):
        TrainManifest.from_dict(REFUSED[case])


def test_the_limits_themselves_are_accepted() -> None:
    data = _with(("tags",), {"t" * train_output.MAX_KEY: "v" * train_output.MAX_TAG_VALUE})
    data["params"] = {f"p{i}": "v" * train_output.MAX_PARAM_VALUE for i in range(3)}
    manifest = TrainManifest.from_dict(data)
    assert len(manifest.tags["t" * train_output.MAX_KEY]) == train_output.MAX_TAG_VALUE


def test_read_refuses_a_missing_or_non_json_manifest(tmp_path: Path) -> None:
    with pytest.raises(TrainOutputError, match=r"wrote no train_output\.json"):
        TrainManifest.read(tmp_path)
    (tmp_path / "train_output.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(TrainOutputError, match="not JSON"):
        TrainManifest.read(tmp_path)


def test_latest_metrics_takes_the_highest_step_then_the_latest_timestamp() -> None:
    manifest = TrainManifest.from_dict(copy.deepcopy(VALID))
    # rmse: step 3 wins over a later timestamp at step 1.
    assert manifest.latest_metrics() == {"rmse": 1.5, "mae": 1.0}
    tie = _with(("metrics",), [["loss", 4.0, 2, 10], ["loss", 3.0, 2, 30], ["loss", 5.0, 2, 20]])
    assert TrainManifest.from_dict(tie).latest_metrics() == {"loss": 3.0}


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    manifest = TrainManifest.from_dict(_with(("fallback_reason",), "no converter for KernelRidge"))
    manifest.write(tmp_path)
    assert json.loads((tmp_path / "train_output.json").read_text())["format"] == 1
    assert TrainManifest.read(tmp_path) == manifest


_KEYS = st.text(min_size=1, max_size=20)
_FINITE = st.floats(allow_nan=False, allow_infinity=True, width=64)


@st.composite
def manifests(draw: st.DrawFn) -> TrainManifest:
    return TrainManifest(
        model_name=draw(_KEYS),
        columns=tuple(draw(st.lists(_KEYS, max_size=5))),
        metrics=tuple(
            draw(
                st.lists(
                    st.builds(
                        MetricPoint,
                        _KEYS,
                        _FINITE,
                        st.integers(-(2**40), 2**40),
                        st.integers(0, 2**45),
                    ),
                    max_size=6,
                )
            )
        ),
        params=draw(st.dictionaries(_KEYS, st.text(max_size=30), max_size=4)),
        tags=draw(st.dictionaries(_KEYS, st.text(max_size=30), max_size=4)),
        logged_model_name=draw(_KEYS),
        smoke_input=draw(st.none() | st.just({"columns": ["a"], "data": [[1.0]]})),
        flavor=draw(st.sampled_from(["onnx", "skops"])),
        fallback_reason=draw(st.none() | _KEYS),
        versions=draw(st.dictionaries(_KEYS, _KEYS, max_size=4)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_manifest_round_trips_through_json(manifest: TrainManifest) -> None:
    text = json.dumps(manifest.to_dict(), allow_nan=True)
    again = TrainManifest.from_dict(json.loads(text))
    assert again == manifest
    assert again.latest_metrics() == manifest.latest_metrics()


# -- reserved tags -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tag",
    [
        "mlflow.runName",
        "mlflow.source.git.commit",
        "git_commit",
        "git_author",
        "pipeline_execution",
        "artifact_uri",
        "artifact_sha256",
        "serving_flavor",
        "gate_metric",
        "gate_tolerance",
        "image_uri",
        "smoke_input",
        "approved_by",
        "approved_at",
        "deployed_prod_at",
        "build_failure_reason",
        "stage_lambda_version",
        "prod_lambda_version",
    ],
)
def test_pipeline_tags_are_reserved(tag: str) -> None:
    assert is_reserved(tag)


@pytest.mark.parametrize(
    "tag", ["team", "owner", "dataset", "approved", "smoke", "github_repo", "my_git_commit", "lambda_version"]
)
def test_author_tags_are_not_reserved(tag: str) -> None:
    assert not is_reserved(tag)


def test_pack_stores_hard_linked_files_as_plain_files(tmp_path: Path) -> None:
    # tarfile.add writes a second link to the same inode as a link member, which safe_extract
    # refuses: an output with a hard-linked file would never reach the trusted step.
    source = _output_tree(tmp_path / "out")
    (source / "run_artifacts/same.onnx").hardlink_to(source / "export/model.onnx")
    pack(source, tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz", "r:gz") as archive:
        assert all(m.isfile() or m.isdir() for m in archive.getmembers())
    safe_extract(tmp_path / "out.tar.gz", tmp_path / "dest")
    copied = (tmp_path / "dest/run_artifacts/same.onnx").read_bytes()
    assert copied == (source / "export/model.onnx").read_bytes()
