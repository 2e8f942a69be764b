"""Local stand-in for the API Gateway HTTP API routes that front the Slack callback Lambda
(and, with a GitHub or GitLab source, the git webhook Lambda).

It turns an HTTP request into the same API Gateway v2 (payload format 2.0) event the
Lambda gets on AWS and invokes the function through the emulator's Lambda API, so the
callback runs as its deployed code, with its own environment and role.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops_pipeline.local.stack.errors import GatewayError

MAX_BODY = 1024 * 1024
TEXT_TYPES = ("application/json", "text/")

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def to_apigw_v2_event(
    method: str, path: str, headers: Mapping[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event API Gateway HTTP API builds for a Lambda proxy integration (format 2.0)."""
    content_type = headers.get("content-type", "")
    # HTTP APIs base64-encode bodies that are not text (form posts included).
    is_text = any(content_type.startswith(t) for t in TEXT_TYPES)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": "111111111111",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not is_text,
    }


def lambda_invoker(lambda_client: Any, function_name: str) -> Invoke:
    """Invoke ``function_name`` synchronously and return its (API Gateway style) answer."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            # API Gateway answers 500 when the integration fails; the details stay in the logs.
            return {"statusCode": 500, "body": json.dumps({"message": "Internal Server Error"})}
        return payload if isinstance(payload, dict) else {"statusCode": 200, "body": json.dumps(payload)}

    return invoke


class InteractionsGateway:
    """HTTP server on 127.0.0.1 that forwards ``POST <route>`` to a Lambda as APIGW v2 events.

    ``route`` is the Slack callback's; ``routes`` adds others (``POST /git/webhook``), each to
    its own function, as the HTTP API's routes on AWS."""

    def __init__(
        self,
        invoke: Invoke,
        route: str = "/slack/interactions",
        host: str = "127.0.0.1",
        port: int = 0,
        routes: Mapping[str, Invoke] | None = None,
    ) -> None:
        self.invoke = invoke
        self.route = route
        self.routes: dict[str, Invoke] = {**(routes or {}), route: invoke}
        self.host = host
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.url_of(self.route)

    def url_of(self, route: str) -> str:
        return f"http://{self.host}:{self.port}{route}"

    def start(self) -> InteractionsGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: str, headers: Mapping[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                route = self.path.split("?")[0]
                invoke = gateway.routes.get(route)
                if invoke is None:
                    self._answer(404, json.dumps({"message": "Not Found"}))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, json.dumps({"message": "Request Entity Too Large"}))
                    return
                body = self.rfile.read(length)
                event = to_apigw_v2_event(
                    "POST", route, dict(self.headers.items()), body, self.client_address[0]
                )
                result = invoke(event)
                raw = result.get("body") or ""
                if result.get("isBase64Encoded"):
                    raw = base64.b64decode(raw).decode("utf-8", "replace")
                self._answer(int(result.get("statusCode", 200)), str(raw), result.get("headers"))

        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            raise GatewayError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="interactions-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> InteractionsGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
