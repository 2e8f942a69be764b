"""Fixtures of the emulator tests: one emulator per module, helpers to deploy functions."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlops_pipeline.local.emulator.emulator import Emulator

TRUST_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tmp_path_factory.mktemp("emulator-state")) as emu:
        yield emu


@pytest.fixture(scope="module")
def zip_bytes() -> Callable[[dict[str, str]], bytes]:
    return make_zip


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def ensure_role(emu: Emulator, account: str, name: str = "fn-role") -> str:
    iam = emu.client("iam", account)
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"])


@pytest.fixture(scope="module")
def create_zip_function(emulator: Emulator) -> Callable[..., dict[str, Any]]:
    """Create a zip function from {file: source}; returns CreateFunction's answer."""

    def create(
        name: str,
        files: dict[str, str],
        handler: str = "app.handler",
        account: str = "tooling",
        env: dict[str, str] | None = None,
        timeout: int = 10,
        publish: bool = False,
    ) -> dict[str, Any]:
        lam = emulator.client("lambda", account)
        return dict(
            lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role=ensure_role(emulator, account),
                Handler=handler,
                Code={"ZipFile": make_zip(files)},
                Environment={"Variables": env or {}},
                Timeout=timeout,
                Publish=publish,
            )
        )

    return create
