"""Structured logging: one JSON object per line on stdout, which CloudWatch Logs Insights can query by field."""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from mlp_common.lambda_context import LambdaContext

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_RESERVED = ("timestamp", "level", "message", "service")


class Logger:
    """A minimal Powertools-style logger.

    Call `inject_context` at the start of every invocation so each line carries the function name and the Lambda
    request id. Extra keyword arguments become top-level keys; they can never overwrite the reserved keys.
    """

    def __init__(self, service: str, level: str | None = None) -> None:
        self.service = service
        name = (level or os.environ.get("LOG_LEVEL") or "INFO").strip().upper()
        self.level = _LEVELS.get(name, _LEVELS["INFO"])
        self._keys: dict[str, Any] = {}
        self._cold_start = True

    def inject_context(self, context: LambdaContext | None, **keys: Any) -> None:
        """Reset the per-invocation keys from the Lambda context (request id, function name, cold start)."""
        self._keys = {
            "function_name": getattr(context, "function_name", None),
            "request_id": getattr(context, "aws_request_id", None),
            "cold_start": self._cold_start,
            **keys,
        }
        self._cold_start = False

    def append_keys(self, **keys: Any) -> None:
        self._keys.update(keys)

    def debug(self, message: str, **extra: Any) -> None:
        self._log("DEBUG", message, extra)

    def info(self, message: str, **extra: Any) -> None:
        self._log("INFO", message, extra)

    def warning(self, message: str, **extra: Any) -> None:
        self._log("WARNING", message, extra)

    def error(self, message: str, **extra: Any) -> None:
        self._log("ERROR", message, extra)

    def exception(self, message: str, **extra: Any) -> None:
        """ERROR line with the active exception's type and traceback (logs only: never put these in a response)."""
        exc_type, exc, _ = sys.exc_info()
        if exc is not None:
            extra = {**extra, "exception_name": exc_type.__name__ if exc_type else None, "exception": _format(exc)}
        self._log("ERROR", message, extra)

    def _log(self, level: str, message: str, extra: dict[str, Any]) -> None:
        if _LEVELS[level] < self.level:
            return
        record: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "message": message,
            "service": self.service,
        }
        for key, value in {**self._keys, **extra}.items():
            if key not in _RESERVED:
                record[key] = value
        sys.stdout.write(_dumps(record) + "\n")
        sys.stdout.flush()


def _dumps(record: dict[str, Any]) -> str:
    """The line as JSON; a log call must never raise because of what it logs.

    default=str covers objects json cannot encode. What str() cannot help with either (an int of more than 4300
    digits, nesting deeper than the recursion limit) is replaced, value by value, with a placeholder naming its type.
    """
    try:
        return json.dumps(record, default=str)
    except (ValueError, TypeError, RecursionError):
        return json.dumps({key: _loggable(value) for key, value in record.items()}, default=str)


def _loggable(value: Any) -> Any:
    try:
        json.dumps(value, default=str)
    except (ValueError, TypeError, RecursionError):
        return f"<unloggable {type(value).__name__}>"
    return value


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
