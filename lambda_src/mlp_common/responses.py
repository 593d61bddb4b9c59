"""API Gateway proxy responses and the mapping from errors to them.

Error bodies are always `{"error": <message we wrote>, "requestId": ...}`. An exception's own text or traceback never
reaches a client: business errors carry a message chosen by our code, anything else becomes a generic 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from mlp_common.features import LoneSurrogateError, has_lone_surrogate, loads_strict
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger

JSON_HEADERS = {"Content-Type": "application/json"}
INTERNAL_ERROR = "internal server error"
MAX_REQUEST_ID_LENGTH = 128  # API Gateway's ids are UUIDs (36); anything far longer is not one
MAX_BODY_BYTES = 64 * 1024  # UTF-8 bytes; every request of these APIs is tiny


class ApiError(Exception):
    """A failure the client may be told about: HTTP status + a safe, specific message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": json.dumps(body), "isBase64Encoded": False}


def error_response(status: int, message: str, request_id: str) -> dict[str, Any]:
    return json_response(status, {"error": message, "requestId": request_id})


def api_request_id(event: Any, context: LambdaContext | None) -> str:
    """API Gateway's request id (what clients and access logs see), else the Lambda request id."""
    if isinstance(event, dict):
        request_context = event.get("requestContext")
        if isinstance(request_context, dict):
            value = request_context.get("requestId")
            # It becomes the item key: it must be UTF-8-encodable text that fits DynamoDB's key size.
            if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_LENGTH and not has_lone_surrogate(value):
                return value
    return str(getattr(context, "aws_request_id", "") or "unknown")


def run_api(route: Callable[[], dict[str, Any]], request_id: str, logger: Logger) -> dict[str, Any]:
    """Run a route; map ApiError to its status and anything else to a logged, generic 500."""
    try:
        return route()
    except ApiError as err:
        log = logger.warning if err.status >= 500 else logger.info
        log("request refused", status=err.status, error=err.message, api_request_id=request_id)
        return error_response(err.status, err.message, request_id)
    except Exception:
        logger.exception("unhandled error", status=500, api_request_id=request_id)
        return error_response(500, INTERNAL_ERROR, request_id)


def request_body(event: Mapping[str, Any], missing: str, max_bytes: int = MAX_BODY_BYTES) -> str | bytes:
    """The request body (bytes if it came base64-encoded): 400 `missing` when absent, 413 when over `max_bytes`.

    The limit counts UTF-8 bytes, not characters: 40,000 "é" are 80,000 bytes. A base64 body (binary media type) is
    measured after decoding; base64 text that always decodes to more than the limit is refused without decoding it.
    "surrogatepass" measures a lone surrogate as the 3 bytes a lenient encoder would send, instead of crashing the
    measurement; the JSON check refuses it afterwards.
    """
    body = event.get("body")
    if not isinstance(body, str) or not body:
        raise ApiError(400, missing)
    too_large = ApiError(413, f"request body exceeds {max_bytes} bytes")
    if event.get("isBase64Encoded"):
        if len(body) > 4 * -(-max_bytes // 3):  # the base64 length of max_bytes bytes
            raise too_large
        try:
            raw: str | bytes = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "request body is not valid base64") from None
        size = len(raw)
    else:
        raw = body
        # A character is at least one byte: a body longer in characters is over the limit without encoding it.
        size = len(body) if len(body) > max_bytes else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise too_large
    return raw


def json_body(event: Mapping[str, Any], missing: str, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The request body parsed as strict JSON (see `request_body`); 400 for invalid JSON or a lone surrogate."""
    raw = request_body(event, missing, max_bytes)
    try:
        return loads_strict(raw)
    except LoneSurrogateError:
        raise ApiError(400, "request body holds a lone surrogate (not valid Unicode)") from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "request body is not valid JSON") from None
