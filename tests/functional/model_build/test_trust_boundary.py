"""The boundary between the untrusted training step and the trusted registration step (issue 12).

A hostile ``train.py`` looks for the pipeline's MLflow credentials and forges lineage tags; its
training output is then tampered with the way a compromised training step could. The trusted
step must register only what it verified, with its own lineage, against a real mlflow server.
One training run (``Trainer``) is shared by the tampering cases (each works on a copy).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from build_test_helpers import CLI, SEED, build_env, git, git_checkout
from mlflow import MlflowClient

from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.mlflow_server import MlflowServer
from mlops_pipeline.model_build import skops_types, train_output
from mlops_pipeline.model_build.config import load_config
from mlops_pipeline.model_build.errors import BuildError, ExportError
from mlops_pipeline.model_build.register_step import verify
from mlops_pipeline.model_build.runner import EXPORTED, BuildResult, BuildSettings, Registrar
from mlops_pipeline.model_build.train_step import Trainer, TrainSettings

pytestmark = pytest.mark.functional

MODEL = "hostile-model"
MAX_ROWS = 321  # the checkout's (trusted) mlops.toml tightens the default 10 000
USERNAME = "pipeline-user-7f3a"
PASSWORD = "s3cr3t-pipeline-password-91c2e4"
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:mlops-pipeline:trust-1"
FORGED = {"git_commit": "forged", "pipeline_execution": "forged", "approved_by": "me"}

HOSTILE_TRAIN = textwrap.dedent(
    """
    # A model author's train.py that looks for the pipeline's secrets and forges its lineage.
    import json, os, runpy
    from pathlib import Path

    import mlflow

    parent = {}
    try:
        raw = Path(f"/proc/{os.getppid()}/environ").read_bytes().decode(errors="replace")
        parent = dict(e.split("=", 1) for e in raw.split("\\0") if "=" in e and e.startswith("MLFLOW_"))
    except OSError:
        pass
    seen = {
        "environ": sorted(os.environ),
        "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI"),
        "username": os.environ.get("MLFLOW_TRACKING_USERNAME"),
        "password": os.environ.get("MLFLOW_TRACKING_PASSWORD"),
        "parent_mlflow_environ": parent,
    }
    run_id = os.environ["MLFLOW_RUN_ID"]  # the step's run (end_run unsets the variable)
    with mlflow.start_run():
        mlflow.log_dict(seen, "seen/env.json")
        mlflow.log_params(
            {
                "seen_tracking_uri": str(seen["tracking_uri"]),
                "seen_username": str(seen["username"]),
                "seen_password": str(seen["password"]),
            }
        )
        mlflow.set_tags(
            {
                "git_commit": "forged",
                "pipeline_execution": "forged",
                "approved_by": "me",
                "mlflow.source.git.commit": "forged",
                "team": "hostile",
            }
        )
    os.environ["MLFLOW_RUN_ID"] = run_id
    runpy.run_path(str(Path(__file__).resolve().parent / "seed_train.py"), run_name="__main__")
    """
)


@dataclass(frozen=True)
class Trained:
    project: Path
    output: Path  # the Trainer's output: copy it before changing anything
    env: dict[str, str]


def hostile_checkout(root: Path) -> Path:
    source = root / "src"
    shutil.copytree(SEED, source, ignore=shutil.ignore_patterns("__pycache__", "mlruns", ".venv"))
    (source / "train.py").rename(source / "seed_train.py")
    (source / "train.py").write_text(HOSTILE_TRAIN)
    toml = (source / "mlops.toml").read_text().replace('name = "delivery-time"', f'name = "{MODEL}"')
    (source / "mlops.toml").write_text(toml + f"\n[serving]\nmax_rows = {MAX_ROWS}\n")
    return git_checkout(source, root / "checkout")


@pytest.fixture(scope="module")
def trained(
    mlflow_server: MlflowServer, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    """The hostile project trained once, with the pipeline's credentials in the given environment."""
    root = tmp_path_factory.mktemp("hostile")
    project = hostile_checkout(root)
    env = build_env(
        mlflow_server,
        emulator,
        MLFLOW_TRACKING_USERNAME=USERNAME,  # a developer's shell, or a misconfigured project
        MLFLOW_TRACKING_PASSWORD=PASSWORD,
        GIT_COMMIT=git(project, "rev-parse", "HEAD"),
        GIT_BRANCH="main",
        GIT_REPOSITORY="hostile-model",
        PIPELINE_EXECUTION=EXECUTION,
    )
    output = root / "train-output"
    Trainer(TrainSettings(project, env=env, python=sys.executable)).run(output)
    return Trained(project, output, env)


def tampered(trained: Trained, tmp_path: Path, change: Callable[[Path], Any]) -> Path:
    copy = tmp_path / "output"
    shutil.copytree(trained.output, copy, symlinks=True)
    change(copy)
    return copy


def edit_json(path: Path, **changes: Any) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def registrar(trained: Trained) -> Registrar:
    return Registrar(BuildSettings.from_env(trained.project, env=trained.env))


def versions(client: MlflowClient) -> list[str]:
    return sorted(v.version for v in client.search_model_versions(f"name = '{MODEL}'"))


def run_ids(client: MlflowClient) -> list[str]:
    experiment = client.get_experiment_by_name(MODEL)
    if experiment is None:
        return []
    return sorted(r.info.run_id for r in client.search_runs([experiment.experiment_id]))


@pytest.fixture(scope="module")
def registered(trained: Trained, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The hostile run registered; its serving.json also claims more trust and a bigger row cap."""

    def loosen(out: Path) -> None:
        edit_json(
            out / "export/serving.json", max_rows=10**9, trusted_types=["builtins.eval", "posix.system"]
        )

    out = tampered(trained, tmp_path_factory.mktemp("registered"), loosen)
    with pytest.MonkeyPatch.context() as patch:  # boto3 reads the emulator's account from os.environ
        for key, value in emulator.env("tooling").items():
            patch.setenv(key, value)
        return registrar(trained).run(out)


# -- a. a hostile train.py ---------------------------------------------------------------------
def test_train_py_ran_against_a_local_store_without_the_pipeline_credentials(trained: Trained) -> None:
    seen = json.loads((trained.output / "run_artifacts/seen/env.json").read_text())
    assert seen["tracking_uri"].startswith("sqlite:///")
    assert seen["username"] is None and seen["password"] is None
    assert not {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} & set(seen["environ"])
    assert {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "PATH"} <= set(seen["environ"])
    # The Trainer runs in this test's process, which never had the password.
    assert PASSWORD not in json.dumps(seen["parent_mlflow_environ"])
    for path in trained.output.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data and USERNAME.encode() not in data, path


def test_the_server_run_has_no_secret_and_the_pipeline_lineage(
    trained: Trained, registered: BuildResult, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    head = git(trained.project, "rev-parse", "HEAD")
    run = mlflow_client.get_run(registered.run_id)
    assert run.info.status == "FINISHED"
    params, tags = run.data.params, run.data.tags
    assert params["seen_tracking_uri"].startswith("sqlite:///")
    assert mlflow_client.tracking_uri not in params["seen_tracking_uri"]
    assert (params["seen_username"], params["seen_password"]) == ("None", "None")
    assert params["n_neighbors"] == "1"  # the author's own params are copied
    assert tags["team"] == "hostile"  # and the author's own tags
    assert (tags["git_commit"], tags["mlflow.source.git.commit"]) == (head, head)
    assert tags["pipeline_execution"] == EXECUTION
    assert "approved_by" not in tags
    # (mlflow.* tags never leave the training step: the Trainer drops them from its manifest.)
    assert set(tags["dropped_author_tags"].split(",")) >= set(FORGED)
    everything = json.dumps([params, tags, run.data.metrics])
    assert PASSWORD not in everything and USERNAME not in everything

    artifacts = Path(mlflow_client.download_artifacts(registered.run_id, "", str(tmp_path / "run")))
    assert (artifacts / "seen/env.json").is_file()
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert files and not any(PASSWORD.encode() in p.read_bytes() for p in files)

    version = mlflow_client.get_model_version(MODEL, registered.model_version)
    assert version.run_id == registered.run_id
    assert version.tags["git_commit"] == head
    assert version.tags["pipeline_execution"] == EXECUTION
    assert "approved_by" not in version.tags
    assert version.tags == registered.tags  # exactly the pipeline's tags, nothing of the author's
    assert PASSWORD not in json.dumps(version.tags)


# -- b. a tampered training output -------------------------------------------------------------
def test_the_registered_artifact_serves_with_the_trusted_row_cap_and_types(
    registered: BuildResult, emulator: Emulator
) -> None:
    match = re.fullmatch(r"s3://([^/]+)/(.+)\?versionId=(.+)", registered.artifact.uri)
    assert match, registered.artifact.uri
    bucket, key, version_id = match.groups()
    body = emulator.client("s3").get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("model/serving.json"))
    assert manifest["flavor"] == "onnx"
    assert manifest["max_rows"] == MAX_ROWS
    assert manifest["trusted_types"] == []


def skops_export(out: Path) -> None:
    """What a training step could hand over: a skops export claiming extra trusted types."""
    import mlflow.sklearn

    from mlops_pipeline.model_build.export import export_skops

    manifest = json.loads((out / train_output.MANIFEST_FILE).read_text())
    model = mlflow.sklearn.load_model(str(out / train_output.LOGGED_MODEL))
    shutil.rmtree(out / train_output.EXPORT)
    export_skops(model, manifest["columns"], out / train_output.EXPORT, 10**9)
    edit_json(
        out / "export/serving.json",
        trusted_types=["builtins.eval", "posix.system", "sklearn.neighbors._kd_tree.KDTree"],
    )
    edit_json(out / train_output.MANIFEST_FILE, flavor="skops", fallback_reason="chose skops")
    with np.load(out / train_output.PARITY_FILE) as data:
        rows = data["rows"]
    np.savez(out / train_output.PARITY_FILE, rows=rows, expected=model.predict(rows))


def test_a_skops_export_gets_the_allow_list_types_and_the_trusted_row_cap(
    trained: Trained, tmp_path: Path
) -> None:
    import skops.io

    out = tampered(trained, tmp_path, skops_export)
    claimed = json.loads((out / "export/serving.json").read_text())
    assert "builtins.eval" in claimed["trusted_types"] and claimed["max_rows"] == 10**9
    config = load_config(trained.project, "hostile-model")
    verified = verify(out, config, lambda message: None)
    assert verified.manifest.flavor == "skops"
    # What the artifact will hold: the file's own types, each on the fixed allow-list.
    written = json.loads((verified.export_dir / "serving.json").read_text())
    found = skops.io.get_untrusted_types(file=verified.export_dir / "model.skops")
    assert written["trusted_types"] == sorted(set(found))
    assert written["trusted_types"] and all(skops_types.is_allowed(t) for t in written["trusted_types"])
    assert "builtins.eval" not in written["trusted_types"]
    assert written["max_rows"] == MAX_ROWS


def _scale_expected(out: Path) -> None:
    with np.load(out / train_output.PARITY_FILE) as data:
        rows, expected = data["rows"], data["expected"]
    np.savez(out / train_output.PARITY_FILE, rows=rows, expected=expected * 1.01 + 0.5)


def _hugely_tagged(out: Path) -> None:
    path = out / train_output.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    edit_json(path, tags={**manifest["tags"], "note": "x" * (train_output.MAX_TAG_VALUE * 100)})


REFUSALS: dict[str, tuple[Callable[[Path], Any], type[BuildError], str]] = {
    "parity-expected-changed": (_scale_expected, ExportError, "does not reproduce the trained model"),
    "model-name-changed": (
        lambda out: edit_json(out / train_output.MANIFEST_FILE, model_name="delivery-time"),
        BuildError,
        f"mlops.toml names '{MODEL}'",
    ),
    "huge-tag": (_hugely_tagged, train_output.TrainOutputError, r"tags\['note'\] must be a string"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_tampered_output_is_refused_and_registers_nothing(
    case: str, trained: Trained, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    change, error, words = REFUSALS[case]
    out = tampered(trained, tmp_path, change)
    before_versions, before_runs = versions(mlflow_client), run_ids(mlflow_client)
    with pytest.raises(error, match=words):
        registrar(trained).run(out)
    assert versions(mlflow_client) == before_versions
    assert run_ids(mlflow_client) == before_runs  # refused before any run was copied


def test_a_planted_symlink_does_not_cross_the_tarball(trained: Trained, tmp_path: Path) -> None:
    def plant(out: Path) -> None:
        (out / "logged_model/passwd").symlink_to("/etc/passwd")
        (out / "run_artifacts/home").symlink_to(Path.home(), target_is_directory=True)

    out = tampered(trained, tmp_path, plant)
    assert (out / "logged_model/passwd").is_symlink()
    train_output.pack(out, tmp_path / "out.tar.gz")
    train_output.safe_extract(tmp_path / "out.tar.gz", tmp_path / "extracted")
    extracted = tmp_path / "extracted"
    assert not (extracted / "logged_model/passwd").exists()
    assert not (extracted / "run_artifacts/home").exists()
    assert not any(p.is_symlink() for p in extracted.rglob("*"))
    assert (extracted / "logged_model/MLmodel").read_bytes() == (out / "logged_model/MLmodel").read_bytes()
    # The rest still verifies: the output is whole without the links.
    config = load_config(trained.project, "hostile-model")
    assert verify(extracted, config, lambda message: None).manifest.model_name == MODEL


# -- c. the two CLI commands -------------------------------------------------------------------
@dataclass(frozen=True)
class CliRun:
    tarball: Path
    train: subprocess.CompletedProcess[str]
    register: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cli_run(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    root = tmp_path_factory.mktemp("cli")
    tarball = root / "out.tar.gz"
    # The training project: no MLflow server, no artifacts bucket, no pipeline variables and no
    # credentials (a training environment that holds them is refused: test below).
    train_env = {
        k: v
        for k, v in trained.env.items()
        if not k.startswith(("MLFLOW_", "GIT_", "PIPELINE_", "ARTIFACTS_", "ECR_"))
    }
    train = subprocess.run(
        [CLI, "train", str(trained.project), "--train-output", str(tarball)],
        env=train_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    register_env = {
        k: v
        for k, v in trained.env.items()
        if k not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    }
    register = subprocess.run(
        [CLI, "register", str(trained.project), "--train-output", str(tarball)],
        env=register_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return CliRun(tarball, train, register)


def test_cli_train_then_register(cli_run: CliRun, trained: Trained, mlflow_client: MlflowClient) -> None:
    assert cli_run.train.returncode == 0, cli_run.train.stderr[-3000:]
    assert "MLFLOW_TRACKING_URI" not in cli_run.train.stderr  # it asked for no server
    assert not re.search(r"^[A-Z_]+=", cli_run.train.stdout, re.MULTILINE), cli_run.train.stdout
    assert cli_run.tarball.is_file() and cli_run.tarball.stat().st_size > 0

    assert cli_run.register.returncode == 0, cli_run.register.stderr[-3000:]
    lines = cli_run.register.stdout.split()
    assert [line.split("=", 1)[0] for line in lines] == list(EXPORTED)
    values = dict(line.split("=", 1) for line in lines)
    assert values["MODEL_NAME"] == MODEL
    version = mlflow_client.get_model_version(MODEL, values["MODEL_VERSION"])
    assert version.run_id == values["RUN_ID"]
    assert version.tags["artifact_uri"] == values["ARTIFACT_URI"]
    assert version.tags["artifact_sha256"] == values["ARTIFACT_SHA256"]
    assert version.tags["git_commit"] == git(trained.project, "rev-parse", "HEAD")
    assert version.tags["pipeline_execution"] == EXECUTION
    run = mlflow_client.get_run(values["RUN_ID"])
    assert run.data.params["seen_tracking_uri"].startswith("sqlite:///")
    assert "approved_by" not in run.data.tags and run.data.tags["git_commit"] != "forged"


def test_cli_register_refuses_a_tarball_with_a_link(
    cli_run: CliRun, trained: Trained, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    import tarfile

    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(cli_run.tarball, "r:gz") as source, tarfile.open(hostile, "w:gz") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("logged_model/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        target.addfile(link)
    before = versions(mlflow_client)
    env = {k: v for k, v in trained.env.items() if k != "MLFLOW_TRACKING_PASSWORD"}
    done = subprocess.run(
        [CLI, "register", str(trained.project), "--train-output", str(hostile)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "TrainOutputError" in done.stderr and "logged_model/passwd" in done.stderr
    assert done.stdout == ""
    assert versions(mlflow_client) == before


def test_cli_train_refuses_to_hold_the_password(trained: Trained, tmp_path: Path) -> None:
    """A misconfigured training project that holds the password: train.py could read it from its
    parent's /proc/<pid>/environ, so `train` refuses to start and train.py never runs."""
    env = {k: v for k, v in trained.env.items() if not k.startswith(("MLFLOW_TRACKING_URI", "GIT_"))}
    assert env["MLFLOW_TRACKING_PASSWORD"] == PASSWORD
    tarball = tmp_path / "out.tar.gz"
    result = subprocess.run(
        [CLI, "train", str(trained.project), "--train-output", str(tarball)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "must not hold MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert not tarball.exists()


def test_concurrent_first_registrations_share_one_experiment(
    trained: Trained, mlflow_client: MlflowClient
) -> None:
    """Two first registrations of a new model at once: the experiment name is unique, so one
    create_experiment loses the race; it must use the winner's experiment, not fail the build."""
    from concurrent.futures import ThreadPoolExecutor

    name = f"race-{os.getpid()}-{int(time.time())}"
    registrars = [Registrar(BuildSettings.from_env(trained.project, env=trained.env)) for _ in range(6)]
    with ThreadPoolExecutor(len(registrars)) as pool:
        ids = set(pool.map(lambda r: r._experiment_id(name), registrars))
    experiment = mlflow_client.get_experiment_by_name(name)
    assert experiment is not None and ids == {experiment.experiment_id}
