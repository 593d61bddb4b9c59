"""The predictions table: item layout (the data contract) and resilient batch writes.

Low-level client attribute maps are built by hand: the table has a handful of attributes, and skipping the
boto3 resource layer keeps cold starts short.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from mlp_common.aws import error_code

BATCH_LIMIT = 25  # BatchWriteItem accepts at most 25 put/delete requests
# DynamoDB cannot store a non-zero magnitude below 1e-130; such a value is indistinguishable from 0 for a model.
_SMALLEST = 1e-130
_RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def ddb_number(value: float) -> str:
    """A float as a DynamoDB number string (shortest round-trip form, as boto3's serializer writes it)."""
    if value == 0 or abs(value) < _SMALLEST:
        return "0"
    return str(Decimal(repr(float(value))))


def timestamps(now: datetime, ttl_days: int) -> tuple[str, int]:
    """(created_at ISO-8601 UTC with milliseconds, expires_at epoch seconds) for a record made at `now` (aware)."""
    created_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    expires_at = int((now + timedelta(days=ttl_days)).timestamp())
    return created_at, expires_at


def prediction_item(
    request_id: str,
    *,
    features: Sequence[float],
    source: str,
    now: datetime,
    ttl_days: int,
    prediction: float | str | None = None,
    variant: str | None = None,
    latency_ms: float | None = None,
) -> dict[str, Any]:
    """A completed item when a prediction is given, else a queued item (variant "none")."""
    created_at, expires_at = timestamps(now, ttl_days)
    item: dict[str, Any] = {
        "request_id": {"S": request_id},
        "created_at": {"S": created_at},
        "expires_at": {"N": str(expires_at)},
        "source": {"S": source},
        "features": {"L": [{"N": ddb_number(value)} for value in features]},
    }
    if prediction is None:
        item["status"] = {"S": "queued"}
        item["variant"] = {"S": "none"}
        return item
    item["status"] = {"S": "completed"}
    item["variant"] = {"S": variant or "unknown"}
    item["prediction"] = {"S": prediction} if isinstance(prediction, str) else {"N": ddb_number(prediction)}
    if latency_ms is not None:
        item["latency_ms"] = {"N": ddb_number(latency_ms)}
    return item


def batch_write(
    ddb: Any,
    table: str,
    items: Sequence[dict[str, Any]],
    *,
    max_attempts: int = 5,
    base_delay_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Put `items` in chunks of 25, retrying UnprocessedItems and throttling with exponential backoff.

    Returns {request_id: reason} for every item that could not be written; never raises for AWS errors, so one bad
    chunk cannot lose the rest of the batch. Item keys must be unique within `items` (DynamoDB rejects duplicates).
    """
    failed: dict[str, str] = {}
    for start in range(0, len(items), BATCH_LIMIT):
        pending = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_LIMIT]]
        reason = "unprocessed after retries"
        for attempt in range(max_attempts):
            if attempt:
                sleep(backoff_delay(attempt, base_delay_s))
            try:
                response = ddb.batch_write_item(RequestItems={table: pending})
            except ClientError as err:
                code = error_code(err)
                reason = f"BatchWriteItem failed: {code}"
                if code in _RETRYABLE:
                    continue
                break
            pending = response.get("UnprocessedItems", {}).get(table, [])
            reason = "unprocessed after retries"
            if not pending:
                break
        for request in pending:
            failed[request["PutRequest"]["Item"]["request_id"]["S"]] = reason
    return failed


def backoff_delay(attempt: int, base_delay_s: float) -> float:
    """Exponential backoff with jitter (half fixed, half random) so retries from concurrent shards spread out."""
    delay = base_delay_s * (2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not cryptography
