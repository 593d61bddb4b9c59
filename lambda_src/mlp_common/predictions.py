"""The predictions table: item layout (the data contract), resilient batch writes and the A/B read path.

Low-level client attribute maps are built by hand: the table has a handful of attributes, and skipping the
boto3 resource layer keeps cold starts short.

The A/B index is write-sharded: its hash key is ``"<variant>#<n>"`` with n a stable hash of the request id, so one
variant's writes spread over PREDICTIONS_VARIANT_SHARDS partitions instead of throttling one (a DynamoDB partition takes
~1,000 write units per second). :func:`query_variant` reads one variant's time window back across every shard.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from mlp_common.aws import error_code

BATCH_LIMIT = 25  # BatchWriteItem accepts at most 25 put/delete requests
# The A/B index: the same names and values as constructs/tables.py (tests/unit/test_contracts.py checks they agree).
PREDICTIONS_VARIANT_INDEX = "by-variant-shard-time"
PREDICTIONS_VARIANT_SHARD_ATTRIBUTE = "variant_shard"  # hash key: "<variant>#<shard>"
PREDICTIONS_CREATED_AT_ATTRIBUTE = "created_at"  # range key: ISO-8601 UTC with milliseconds, sorts as text
PREDICTIONS_VARIANT_SHARDS = 16
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


def iso_timestamp(moment: datetime) -> str:
    """`moment` (timezone-aware) as created_at stores it: ISO-8601 UTC with milliseconds, e.g. 2026-11-21T10:00:00.123Z.

    One fixed width and zone, so text order is time order (the index's range key compares strings).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timestamps(now: datetime, ttl_days: int) -> tuple[str, int]:
    """(created_at ISO-8601 UTC with milliseconds, expires_at epoch seconds) for a record made at `now` (aware)."""
    expires_at = int((now + timedelta(days=ttl_days)).timestamp())
    return iso_timestamp(now), expires_at


def shard_of(request_id: str, shards: int = PREDICTIONS_VARIANT_SHARDS) -> int:
    """The request's shard, 0..shards-1: stable across processes and runtimes (SHA-256, not the salted hash())."""
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def variant_shard(variant: str, request_id: str) -> str:
    """The index's hash key value of a prediction: ``"<variant>#<shard>"`` (never empty, as DynamoDB requires)."""
    return _shard_key(variant, shard_of(request_id))


def _shard_key(variant: str, shard: int) -> str:
    return f"{variant}#{shard}"


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
        PREDICTIONS_CREATED_AT_ATTRIBUTE: {"S": created_at},
        "expires_at": {"N": str(expires_at)},
        "source": {"S": source},
        "features": {"L": [{"N": ddb_number(value)} for value in features]},
    }
    if prediction is None:
        item["status"] = {"S": "queued"}
        item["variant"] = {"S": "none"}
        item[PREDICTIONS_VARIANT_SHARD_ATTRIBUTE] = {"S": variant_shard("none", request_id)}
        return item
    answered = variant or "unknown"
    item["status"] = {"S": "completed"}
    item["variant"] = {"S": answered}
    item[PREDICTIONS_VARIANT_SHARD_ATTRIBUTE] = {"S": variant_shard(answered, request_id)}
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


def query_variant(
    ddb: Any,
    table: str,
    variant: str,
    start: datetime,
    end: datetime,
    *,
    page_size: int | None = None,
) -> list[dict[str, Any]]:
    """Every item of `variant` created in [start, end] (both inclusive), oldest first (ties by request_id).

    One Query per shard of the A/B index (paginated), merged by created_at. The index is eventually consistent: a
    prediction written a moment ago may be missing. A window whose start is after its end is refused before any
    call (DynamoDB refuses a BETWEEN whose lower bound exceeds its upper bound).
    """
    low, high = iso_timestamp(start), iso_timestamp(end)
    if low > high:
        raise ValueError(f"the window starts ({low}) after it ends ({high})")
    items = [
        item
        for shard in range(PREDICTIONS_VARIANT_SHARDS)
        for item in _query_shard(ddb, table, _shard_key(variant, shard), low, high, page_size)
    ]
    return sorted(items, key=lambda item: (item[PREDICTIONS_CREATED_AT_ATTRIBUTE]["S"], item["request_id"]["S"]))


def _query_shard(
    ddb: Any, table: str, shard_key: str, low: str, high: str, page_size: int | None
) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": PREDICTIONS_VARIANT_INDEX,
        "KeyConditionExpression": "#shard = :shard AND #created BETWEEN :low AND :high",
        "ExpressionAttributeNames": {
            "#shard": PREDICTIONS_VARIANT_SHARD_ATTRIBUTE,
            "#created": PREDICTIONS_CREATED_AT_ATTRIBUTE,
        },
        "ExpressionAttributeValues": {":shard": {"S": shard_key}, ":low": {"S": low}, ":high": {"S": high}},
    }
    if page_size is not None:
        request["Limit"] = page_size
    while True:
        response = ddb.query(**request)
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last
