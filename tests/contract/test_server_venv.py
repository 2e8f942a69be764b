"""The MLflow server's venv: the lock covers this machine, and a failed install says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract import server_venv

pytestmark = pytest.mark.contract


def test_the_lock_has_wheels_for_this_machine() -> None:
    # Machines of this kind are x86_64 or aarch64; CI may land on either.
    assert server_venv._platform() in server_venv.covered_platforms()
    assert {("x86_64", "3.11"), ("aarch64", "3.11"), ("aarch64", "3.12")} <= server_venv.covered_platforms()


def use_lock(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """server_venv installs ``text`` as its lock, into a cache under ``tmp_path``."""
    lock = tmp_path / "requirements.lock"
    lock.write_text(text)
    monkeypatch.setattr(server_venv, "LOCK", lock)
    monkeypatch.setattr(server_venv, "REPO", tmp_path)
    monkeypatch.setattr(server_venv, "CACHE", tmp_path / "cache")


def test_a_failed_install_names_pips_own_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine, version = server_venv._platform()
    wrong_hash = "six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    use_lock(f"#   - linux/{machine} CPython {version} (test)\n" + wrong_hash, tmp_path, monkeypatch)
    with pytest.raises(RuntimeError) as failure:
        server_venv.ensure()
    message = str(failure.value)
    # Both attempts, each with pip's own words, and the disk space: enough to act on from a CI log.
    assert "this machine's pip settings" in message and "the package index only" in message
    assert message.count("DO NOT MATCH THE HASHES") == 2
    assert "GiB free" in message
    assert "is ignored: it is neither a file" not in message
    assert not any((tmp_path / "cache").iterdir()), "a failed venv is not left behind"


def test_an_uncovered_platform_is_refused_before_installing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_lock("#   - linux/riscv64 CPython 3.99 (nobody)\n", tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match=r"add a Target to docker/mlflow/lock\.py"):
        server_venv.ensure()
    assert not (tmp_path / "cache").exists()
