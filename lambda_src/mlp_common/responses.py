"""API Gateway proxy responses and the mapping from errors to them.

Error bodies are always `{"error": <message we wrote>, "requestId": ...}`. An exception's own text or traceback never
reaches a client: business errors carry a message chosen by our code, anything else becomes a generic 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mlp_common.features import has_lone_surrogate
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger

JSON_HEADERS = {"Content-Type": "application/json"}
INTERNAL_ERROR = "internal server error"
MAX_REQUEST_ID_LENGTH = 128  # API Gateway's ids are UUIDs (36); anything far longer is not one


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
