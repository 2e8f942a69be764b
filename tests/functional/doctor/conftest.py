"""Fixtures of the doctor tests: the emulator's three accounts, the local Slack stand-in, a fake
Terraform toolchain and a copy of the live/aws root with its own terraform.tfvars.

The Slack stand-in serves no ``conversations.info``; :class:`MembershipSlack` sits in front of
it and answers that one method (after checking the token with the stand-in's own ``auth.test``),
passing every other call through unchanged.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from doctor_env import (
    ADMIN_ROLE,
    BOT_TOKEN,
    CHANNEL,
    LIVE_AWS,
    PROD_ONLY_ROLE,
    TRUST_TOOLING,
    MembershipSlack,
    Toolchain,
    proxy_handler,
)

from mlops_pipeline.doctor.terraform_checks import host_platform
from mlops_pipeline.local.emulator.emulator import Emulator
from mlops_pipeline.local.stack.slack_standin import LocalSlackServer


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Stage and prod hold the admin role; prod also holds PROD_ONLY_ROLE (missing in stage)."""
    with Emulator(tmp_path_factory.mktemp("doctor-emulator")) as emu:
        for account in ("stage", "prod"):
            emu.client("iam", account).create_role(
                RoleName=ADMIN_ROLE, AssumeRolePolicyDocument=TRUST_TOOLING
            )
        emu.client("iam", "prod").create_role(RoleName=PROD_ONLY_ROLE, AssumeRolePolicyDocument=TRUST_TOOLING)
        yield emu


@pytest.fixture
def aws_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Act as ``account``'s admin against the emulator (the tooling account's by default)."""

    def use(account: str = "tooling") -> None:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in emulator.env(account).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    use("tooling")
    return use


@pytest.fixture
def slack() -> Iterator[MembershipSlack]:
    """The stand-in (bot token BOT_TOKEN) behind the proxy; the bot is a member of CHANNEL."""
    with LocalSlackServer(BOT_TOKEN, "doctor-test-signing-secret") as upstream:
        state = MembershipSlack(upstream, members={CHANNEL})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(state))
        state.api_url = f"http://127.0.0.1:{httpd.server_address[1]}/api/"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)


@pytest.fixture
def toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Toolchain:
    """Terraform 1.11.4 and hashicorp/aws 5.100.0 unless a test says otherwise."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "terraform"
    script.write_text(f'#!/bin/sh\ncat "{bin_dir / "version.json"}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    chain = Toolchain(bin_dir, tmp_path / "mirror", host_platform())
    chain.terraform_reports("1.11.4")
    chain.mirror_holds("5.100.0")
    monkeypatch.delenv("TERRAFORM", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("TF_PLUGIN_DIR", str(chain.mirror))
    return chain


@pytest.fixture
def root(tmp_path: Path) -> Callable[..., Path]:
    """A copy of live/aws's versions.tf and variables.tf with a terraform.tfvars of the given lines."""

    def make(*lines: str) -> Path:
        directory = tmp_path / "live-aws"
        directory.mkdir(exist_ok=True)
        for name in ("versions.tf", "variables.tf"):
            shutil.copyfile(LIVE_AWS / name, directory / name)
        base = [
            'region           = "us-east-1"',
            'stage_account_id = "222222222222"',
            'prod_account_id  = "333333333333"',
            f'slack_channel    = "{CHANNEL}"',
        ]
        (directory / "terraform.tfvars").write_text("\n".join([*base, *lines]) + "\n")
        return directory

    return make
