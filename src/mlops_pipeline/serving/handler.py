"""The inference Lambda's entry point: ``serving.handler.handler`` (zip or image).

Works for a direct invoke (the event *is* the request body) and for a Function URL /
API Gateway proxy event (the request body is ``event["body"]``; the answer is an HTTP
response). The model is loaded once per execution environment, at import (Lambda's init
phase), from ``SERVING_MODEL_DIR`` or the ``model/`` folder next to this package.

Responses (direct invoke; the same object is the HTTP body behind a proxy):
``{"statusCode": 200, "model_name", "model_version", "predictions": [...],
"probabilities"?: [[...]], "classes"?: [...]}`` or
``{"statusCode": 400, "error": {"type": "InvalidInput", "message", "field"}}``.
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import os
from collections.abc import Mapping
from typing import Any

from .runtime import MANIFEST, Predictor, load_model
from .validation import InvalidInputError, fast_single_row, parse_request


def _log_exception(message: str, *args: Any) -> None:
    # logging is imported only when something went wrong: it is not free at cold start.
    import logging

    logging.getLogger(__name__).exception(message, *args)


DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
JSON_HEADERS = {"content-type": "application/json"}


def default_model_dir() -> str:
    """``SERVING_MODEL_DIR`` or the ``model/`` folder next to this package (os.path: no pathlib import)."""
    configured = os.environ.get("SERVING_MODEL_DIR")
    return configured or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "model")


def _is_http_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and "body" in event
        and ("requestContext" in event or "httpMethod" in event or "routeKey" in event)
    )


def _http_method(event: Mapping[str, Any]) -> str | None:
    method = event.get("httpMethod")
    if method is None:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        method = http.get("method") if isinstance(http, dict) else None
    return method if isinstance(method, str) else None


def _http_body(event: Mapping[str, Any], max_bytes: int) -> Any:
    raw = event.get("body")
    if raw is None or raw == "":
        raise InvalidInputError("the request body is empty", "body")
    if not isinstance(raw, str):
        raise InvalidInputError("the request body must be a JSON string", "body")
    if len(raw) > max_bytes:
        raise InvalidInputError(f"the request body exceeds {max_bytes} bytes", "body")
    try:
        text: str | bytes = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw
        return json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInputError("the request body is not valid JSON", "body") from exc


class Service:
    """A loaded model plus the request/response translation around it."""

    def __init__(
        self,
        predictor: Predictor,
        model_name: str,
        model_version: str,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.predictor = predictor
        self.model_name = model_name
        self.model_version = model_version
        self.max_body_bytes = max_body_bytes
        self.schema = predictor.manifest.schema
        self.columns = self.schema.columns
        classes = predictor.manifest.classes
        self.classes = list(classes) if classes is not None else None

    def score(self, body: Any) -> dict[str, Any]:
        """Validate ``body`` and predict; InvalidInputError for bad input."""
        rows = fast_single_row(body, self.columns)
        if rows is None:
            rows = parse_request(body, self.schema)
        values, probabilities = self.predictor.predict(rows)
        result: dict[str, Any] = {
            "statusCode": 200,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "predictions": values.tolist(),
        }
        if probabilities is not None:
            result["probabilities"] = probabilities.tolist()
            if self.classes is not None:
                result["classes"] = self.classes
        return result

    def _answer(self, body: Any) -> dict[str, Any]:
        try:
            return self.score(body)
        except InvalidInputError as exc:
            return {"statusCode": 400, "error": exc.to_dict()}
        except RecursionError:
            return {
                "statusCode": 400,
                "error": InvalidInputError("the request is nested too deeply").to_dict(),
            }
        except Exception:
            # Never leak a stack trace to the caller; the log has it.
            _log_exception("prediction failed")
            return {"statusCode": 500, "error": {"type": "InternalError", "message": "prediction failed"}}

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        if not _is_http_event(event):
            return self._answer(event)
        method = _http_method(event)
        if method is not None and method.upper() != "POST":
            payload: dict[str, Any] = {
                "statusCode": 405,
                "error": {"type": "MethodNotAllowed", "message": "use POST", "field": None},
            }
        else:
            try:
                body = _http_body(event, self.max_body_bytes)
            except InvalidInputError as exc:
                payload = {"statusCode": 400, "error": exc.to_dict()}
            else:
                payload = self._answer(body)
        return {"statusCode": payload["statusCode"], "headers": JSON_HEADERS, "body": json.dumps(payload)}


def _load_service() -> tuple[Service | None, Exception | None]:
    model_dir = default_model_dir()
    if not os.path.isfile(os.path.join(model_dir, MANIFEST)):
        return None, None
    try:
        predictor = load_model(model_dir)
    except Exception as exc:
        _log_exception("could not load the model from %s", model_dir)
        return None, exc
    return (
        Service(
            predictor,
            model_name=os.environ.get("MODEL_NAME") or predictor.manifest.model_name,
            model_version=os.environ.get("MODEL_VERSION") or predictor.manifest.model_version,
            max_body_bytes=int(os.environ.get("SERVING_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        ),
        None,
    )


# Loaded at import: Lambda's init phase, once per execution environment.
_SERVICE, _LOAD_ERROR = _load_service()
# Everything allocated so far lives as long as the process: keep it out of the garbage
# collector's scans so that per-request collections stay cheap.
gc.freeze()


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point."""
    if _SERVICE is None:
        # A broken image must fail loudly: the smoke test and the deploy rollback rely on it.
        raise RuntimeError(f"the serving model is not available: {_LOAD_ERROR or 'no model folder'}")
    return _SERVICE(event, context)
