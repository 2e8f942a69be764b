"""Local image store: container images without Docker.

A pushed image is a folder ``<root>/<quote(image_uri)>/`` with ``rootfs/`` (the image's
filesystem; the function code under ``rootfs/var/task``) and ``image.json`` (the image
config: command, environment, digest). The digest is the sha256 of a canonical manifest
of the files, so identical content gives an identical digest, like a registry would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlops_pipeline.local.emulator.errors import ImageNotFoundError

DEFAULT_STATE_DIR = ".mlops-local"


def state_dir() -> Path:
    """The local state folder (``MLOPS_LOCAL_STATE`` or ``./.mlops-local``)."""
    return Path(os.environ.get("MLOPS_LOCAL_STATE") or DEFAULT_STATE_DIR).resolve()


def default_root() -> Path:
    return state_dir() / "images"


@dataclass(frozen=True)
class LocalImage:
    image_uri: str
    path: Path
    digest: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/var/task"
    python_packages: list[str] = field(default_factory=list)

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def task_root(self) -> Path:
        return self.rootfs / self.workdir.lstrip("/")


def _key(image_uri: str) -> str:
    return quote(image_uri, safe="")


def tree_digest(root: Path) -> str:
    """sha256 over the sorted (path, mode, content hash) of every file below root."""
    outer = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        inner = hashlib.sha256(path.read_bytes()).hexdigest()
        mode = "x" if os.access(path, os.X_OK) else "-"
        outer.update(f"{rel}\0{mode}\0{inner}\n".encode())
    return "sha256:" + outer.hexdigest()


class ImageStore:
    """Push and look up images by URI."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).resolve()

    def push(
        self,
        image_uri: str,
        rootfs: Path,
        cmd: list[str],
        env: dict[str, str] | None = None,
        workdir: str = "/var/task",
        python_packages: list[str] | None = None,
    ) -> LocalImage:
        """Copy ``rootfs`` into the store under ``image_uri`` (atomically) and return it."""
        if not cmd:
            raise ValueError("an image needs a command (the handler)")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".push-", dir=self.root))
        try:
            shutil.copytree(rootfs, staging / "rootfs", symlinks=False)
            digest = tree_digest(staging / "rootfs")
            config: dict[str, Any] = {
                "image_uri": image_uri,
                "digest": digest,
                "cmd": list(cmd),
                "env": dict(env or {}),
                "workdir": workdir,
                "python_packages": list(python_packages or []),
            }
            (staging / "image.json").write_text(json.dumps(config, indent=2, sort_keys=True))
            target = self.root / _key(image_uri)
            if target.exists():
                # Tags are immutable in ECR; locally a re-push replaces (same URI, new content).
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(image_uri)

    def get(self, image_uri: str) -> LocalImage:
        path = self.root / _key(image_uri)
        config_file = path / "image.json"
        if not config_file.is_file():
            raise ImageNotFoundError(f"image {image_uri} is not in the local image store {self.root}")
        config = json.loads(config_file.read_text())
        return LocalImage(
            image_uri=config["image_uri"],
            path=path,
            digest=config["digest"],
            cmd=list(config["cmd"]),
            env=dict(config.get("env") or {}),
            workdir=config.get("workdir") or "/var/task",
            python_packages=list(config.get("python_packages") or []),
        )

    def exists(self, image_uri: str) -> bool:
        return (self.root / _key(image_uri) / "image.json").is_file()
