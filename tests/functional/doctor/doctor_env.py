"""Helpers of the doctor tests: constants, the Slack proxy that adds ``conversations.info`` to the
local stand-in, and the fake Terraform toolchain."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mlops_pipeline.local.stack.slack_standin import LocalSlackServer

REPO = Path(__file__).resolve().parents[3]
LIVE_AWS = REPO / "terraform" / "live" / "aws"
ADMIN_ROLE = "OrganizationAccountAccessRole"
PROD_ONLY_ROLE = "ProdOnlyAdmin"
BOT_TOKEN = "xoxb-doctor-test-token-0123456789"
CHANNEL = "C0PIPELINE"  # the stand-in's default channel
TRUST_TOOLING = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass
class MembershipSlack:
    """The stand-in behind a proxy that also answers ``conversations.info``."""

    upstream: LocalSlackServer
    api_url: str = ""
    members: set[str] = field(default_factory=set)
    missing_scope: bool = False
    info_calls: int = 0

    def conversations_info(self, args: dict[str, str], auth: str | None) -> dict[str, Any]:
        self.info_calls += 1
        check = urllib.request.Request(
            self.upstream.api_url + "auth.test",
            data=b"",
            headers={"Authorization": auth or ""},
            method="POST",
        )
        with urllib.request.urlopen(check, timeout=10) as response:
            identity = json.loads(response.read())
        if not identity.get("ok"):
            return dict(identity)
        if self.missing_scope:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": "channels:read",
                "provided": "chat:write",
            }
        channel = next((c for c in self.upstream.channels if c.id == args.get("channel")), None)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_archived": False,
                "is_member": channel.id in self.members,
            },
        }


def proxy_handler(state: MembershipSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            method = path.removeprefix("/api/")
            if method == "conversations.info":
                args = {k: v[-1] for k, v in parse_qs(query).items()}
                if body:
                    args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                answer = state.conversations_info(args, self.headers.get("Authorization"))
                self._reply(200, json.dumps(answer).encode())
                return
            headers = {
                k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
            }
            url = state.upstream.api_url + method + (f"?{query}" if query else "")
            request = urllib.request.Request(url, data=body or None, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self._reply(response.status, response.read())
            except urllib.error.HTTPError as exc:
                self._reply(exc.code, exc.read())

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

    return Handler


@dataclass
class Toolchain:
    """A fake ``terraform`` on PATH (prints ``version.json``) and a provider mirror in TF_PLUGIN_DIR."""

    bin_dir: Path
    mirror: Path
    platform: str

    def terraform_reports(self, version: str) -> None:
        info = {"terraform_version": version, "platform": self.platform, "provider_selections": {}}
        (self.bin_dir / "version.json").write_text(json.dumps(info))

    def mirror_holds(self, *versions: str) -> None:
        shutil.rmtree(self.mirror, ignore_errors=True)
        for version in versions:
            target = self.mirror / "registry.terraform.io" / "hashicorp" / "aws" / version / self.platform
            target.mkdir(parents=True)
            (target / f"terraform-provider-aws_v{version}_x5").write_bytes(b"")
