"""The stand-in's HTTP side: one request handler routing to the Web API, the inbox and response URLs.

``/api/<method>`` (GET or POST, form or JSON, token in the Authorization header or the form)
-> :class:`WebApi`; ``/`` and ``/_inbox/*`` -> the inbox (``/_inbox/decide``: a decision on an
approval whose card was never posted); ``/_response/<id>`` -> a click's
response URL; ``/_control/faults`` -> the injected outages (methods answering 429 or 5xx).
The server binds a subclass with its components filled in.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlops_pipeline.local.stack.slack_standin.inbox import PAGE_HEADERS, inbox_page, inbox_state
from mlops_pipeline.local.stack.slack_standin.interactions import Interactions
from mlops_pipeline.local.stack.slack_standin.web_api import WebApi
from mlops_pipeline.local.stack.slack_standin.workspace import ApiError, LocalSlackError, Workspace

log = logging.getLogger(__name__)

MAX_API_BODY = 1024 * 1024
_METHOD_PATH = re.compile(r"^/api/([A-Za-z]+(?:\.[A-Za-z]+)+)$")
_RESPONSE_PATH = re.compile(r"^/_response/([A-Za-z0-9_-]{8,64})$")
FAULTS_PATH = "/_control/faults"  # fault injection (local tests): GET the state, POST to set


class SlackRequestHandler(BaseHTTPRequestHandler):
    workspace: Workspace
    web_api: WebApi
    interactions: Interactions
    server_version = "LocalSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Paths and status only; the Authorization header is never part of this line.
        log.debug("local slack: " + format, *args)

    # -- helpers
    def _send(
        self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_API_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False, "error": "request_too_large"})
            return None
        return self.rfile.read(length) if length else b""

    def _token(self, form: Mapping[str, Any]) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = form.get("token")
        return token if isinstance(token, str) and token else None

    def _same_origin(self) -> bool:
        # The inbox is local, but a web page in the same browser could still POST here;
        # demanding JSON (which forces a CORS preflight we never answer) and a matching
        # Origin keeps other sites from clicking buttons.
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        host = self.headers.get("Host") or ""
        return urlsplit(origin).netloc == host

    # -- verbs
    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/" or path == "/index.html":
            self._send(HTTPStatus.OK, inbox_page(), "text/html; charset=utf-8", PAGE_HEADERS)
            return
        if path == "/_inbox/state":
            self._json(HTTPStatus.OK, inbox_state(self.workspace))
            return
        if path == "/_inbox/health":
            self._json(HTTPStatus.OK, {"ok": True})
            return
        if path == FAULTS_PATH:
            self._json(HTTPStatus.OK, self._faults_state())
            return
        match = _METHOD_PATH.match(path)
        if match:
            args = _single(parse_qs(query, keep_blank_values=True))
            self._api(match.group(1), args)
            return
        self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not_found"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            return
        if path in ("/_inbox/click", "/_inbox/decide"):
            self._click(body, without_card=path == "/_inbox/decide")
            return
        if path == FAULTS_PATH:
            self._set_faults(body)
            return
        match = _RESPONSE_PATH.match(path)
        if match:
            self._response_url(match.group(1), body)
            return
        match = _METHOD_PATH.match(path)
        if not match:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not_found"})
            return
        args: dict[str, Any] = _single(parse_qs(query, keep_blank_values=True))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                args.update(data)
            elif body:
                args.update(_single(parse_qs(body.decode("utf-8"), keep_blank_values=True)))
        except (ValueError, UnicodeDecodeError):
            self._json(HTTPStatus.OK, {"ok": False, "error": "invalid_arguments"})
            return
        self._api(match.group(1), args)

    def _api(self, method: str, args: dict[str, Any]) -> None:
        fault = self.workspace.fault(method)
        if fault is not None:  # an injected outage: answered before anything is looked at
            extra = {"Retry-After": "1"} if fault == HTTPStatus.TOO_MANY_REQUESTS else None
            body = json.dumps({"ok": False, "error": "fatal_error"}).encode("utf-8")
            self._send(fault, body, "application/json; charset=utf-8", extra)
            return
        token = self._token(args)
        args.pop("token", None)
        result = self.web_api.call(method, args, token)
        status = HTTPStatus.NOT_FOUND if result.get("error") == "unknown_method" else HTTPStatus.OK
        self._json(status, result)

    def _click(self, body: bytes, without_card: bool = False) -> None:
        """A click on a card (``message_ts``), or ``without_card`` a decision on ``approval_id``
        whose card was never posted (with ``channel``); both need ``action_id`` and ``user_id``."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" or not self._same_origin():
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "forbidden"})
            return
        target = "approval_id" if without_card else "message_ts"
        try:
            data = json.loads(body)
            subject, action_id, user_id = str(data[target]), str(data["action_id"]), str(data["user_id"])
            channel = str(data.get("channel") or "")
        except (ValueError, KeyError, TypeError):
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": f"need {target}, action_id, user_id"})
            return
        try:
            if without_card:
                status, text = self.interactions.decide_without_card(subject, action_id, user_id, channel)
            else:
                status, text = self.interactions.click(subject, action_id, user_id)
        except LocalSlackError as exc:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "status": status, "body": text[:2000]})

    def _faults_state(self) -> dict[str, Any]:
        with self.workspace.lock:
            return {
                "ok": True,
                "faults": dict(self.workspace.faults),
                "hits": dict(self.workspace.fault_hits),
            }

    def _set_faults(self, body: bytes) -> None:
        """``{"faults": {"chat.postMessage": 500}}`` replaces the injected faults (``{}`` clears)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" or not self._same_origin():
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "forbidden"})
            return
        try:
            faults = json.loads(body or b"{}")["faults"]
            if not isinstance(faults, dict):
                raise ValueError("faults is not an object")
            self.workspace.set_faults(faults)
        except (ValueError, KeyError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": str(exc)})
            return
        self._json(HTTPStatus.OK, self._faults_state())

    def _response_url(self, response_id: str, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "invalid_json"})
            return
        try:
            self.interactions.respond(response_id, data)
        except ApiError as exc:
            status = exc.status if exc.status != HTTPStatus.OK else HTTPStatus.BAD_REQUEST
            self._json(status, {"ok": False, "error": exc.code})
            return
        self._json(HTTPStatus.OK, {"ok": True})


def _single(parsed: Mapping[str, list[str]]) -> dict[str, Any]:
    return {key: values[-1] for key, values in parsed.items() if values}
