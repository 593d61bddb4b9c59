"""Kinesis inference-request consumer: decode → validate → predict (or queue in phase one) → BatchWriteItem.

Reports partial batch failures (ReportBatchItemFailures): only the records that are invalid or could not be
predicted/written are returned, so a poison record never blocks or loses the rest of the batch. Writes are keyed by
request_id, so a replayed record overwrites its own item (idempotent).
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlp_common import aws, model
from mlp_common import metric_names as names
from mlp_common.features import FeatureError, LoneSurrogateError, loads_strict, validate_features
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.metrics import MAX_VALUES, Metric, emit
from mlp_common.predictions import batch_write, prediction_item
from mlp_common.settings import env_flag, env_int, env_str

MAX_REQUEST_ID_LENGTH = 128
# Fixed namespace: the same Kinesis record always maps to the same default request id (replays overwrite).
_REQUEST_ID_NAMESPACE = uuid.UUID("5b1d7a52-3c1e-4f0e-9a57-0d6f5e2c8b41")

logger = Logger("stream_consumer")


@dataclass(frozen=True)
class Settings:
    predictions_table: str
    endpoints_enabled: bool
    endpoint_name: str
    ttl_days: int
    feature_count: int
    write_attempts: int
    write_base_delay_s: float
    namespace: str
    environment: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            predictions_table=env_str("PREDICTIONS_TABLE"),
            endpoints_enabled=env_flag("ENDPOINTS_ENABLED"),
            endpoint_name=env_str("ENDPOINT_NAME"),
            ttl_days=env_int("PREDICTIONS_TTL_DAYS", minimum=1),
            feature_count=env_int("FEATURE_COUNT", minimum=1),
            write_attempts=env_int("BATCH_WRITE_MAX_ATTEMPTS", 5, minimum=1),
            write_base_delay_s=env_int("BATCH_WRITE_BASE_DELAY_MS", 50, minimum=0) / 1000.0,
            namespace=env_str("METRICS_NAMESPACE", "MlPipeline"),
            environment=env_str("ENVIRONMENT"),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


class RecordError(ValueError):
    """A record that can never be processed as sent (reported as a batch item failure)."""


@dataclass(frozen=True)
class StreamRequest:
    sequence_number: str
    request_id: str
    features: list[float]


def _kinesis(record: Any) -> dict[str, Any]:
    """The record's `kinesis` part ({} when the record or the part is not an object)."""
    kinesis = record.get("kinesis") if isinstance(record, dict) else None
    return kinesis if isinstance(kinesis, dict) else {}


def sequence_number(record: Any) -> str:
    """The record's sequence number, its batchItemFailures identifier ("" if absent: Lambda then retries the batch)."""
    value = _kinesis(record).get("sequenceNumber")
    return "" if value is None else str(value)


def default_request_id(record: dict[str, Any]) -> str:
    """A UUID derived from the record's position in the stream.

    eventID is "shardId-…:sequenceNumber"; sequence numbers are only guaranteed unique within a shard, so the shard
    id is included when present. Deterministic: a replay of the record yields the same id.
    """
    source = record.get("eventID") or sequence_number(record)
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, str(source)))


def decode_record(record: Any, feature_count: int) -> StreamRequest:
    if not isinstance(record, dict) or not isinstance(record.get("kinesis"), dict):
        raise RecordError("record is not a Kinesis event record")
    try:
        raw = base64.b64decode(_kinesis(record).get("data", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise RecordError("data is not valid base64") from None
    try:
        payload = loads_strict(raw)
    except LoneSurrogateError:
        raise RecordError("data holds a lone surrogate (not valid Unicode)") from None
    except ValueError:  # UnicodeDecodeError included
        raise RecordError("data is not valid UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise RecordError("data is not a JSON object")
    request_id = payload.get("request_id")
    if request_id is None:
        request_id = default_request_id(record)
    elif not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_LENGTH:
        raise RecordError(f"request_id must be a non-empty string of at most {MAX_REQUEST_ID_LENGTH} characters")
    try:
        features = validate_features(payload.get("features"), feature_count)
    except FeatureError as err:
        raise RecordError(str(err)) from None
    return StreamRequest(sequence_number(record), request_id, features)


def process_batch(
    records: list[dict[str, Any]],
    cfg: Settings,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    failed: dict[str, str] = {}  # sequence number → reason
    order = [sequence_number(record) for record in records]

    # The last record wins for a request_id seen twice in one batch: BatchWriteItem refuses duplicate keys, and the
    # later record is the one a replay-free stream would have left in the table.
    latest: dict[str, StreamRequest] = {}
    sequences_of: dict[str, list[str]] = {}
    for record in records:
        try:
            request = decode_record(record, cfg.feature_count)
        except RecordError as err:
            seq = sequence_number(record)
            failed[seq] = str(err)
            logger.warning("invalid stream record", sequence_number=seq, reason=str(err))
            continue
        latest[request.request_id] = request
        sequences_of.setdefault(request.request_id, []).append(request.sequence_number)

    now = now or datetime.now(UTC)
    items: list[dict[str, Any]] = []
    latencies: dict[str, list[float]] = {}
    for request_id, request in latest.items():
        if not cfg.endpoints_enabled:
            items.append(
                prediction_item(request_id, features=request.features, source="stream", now=now, ttl_days=cfg.ttl_days)
            )
            continue
        try:
            result = model.invoke(aws.client("sagemaker-runtime"), cfg.endpoint_name, request.features)
        except Exception as err:  # one record's failure must not cost the others their predictions
            reason = str(err) if isinstance(err, model.ModelInvocationError) else f"unexpected {type(err).__name__}"
            for seq in sequences_of[request_id]:
                failed[seq] = reason
            logger.warning("prediction failed", request_id=request_id, reason=reason)
            continue
        latencies.setdefault(result.variant, []).append(result.latency_ms)
        items.append(
            prediction_item(
                request_id,
                features=request.features,
                source="stream",
                now=now,
                ttl_days=cfg.ttl_days,
                prediction=result.value,
                variant=result.variant,
                latency_ms=result.latency_ms,
            )
        )

    unwritten = batch_write(
        aws.client("dynamodb"),
        cfg.predictions_table,
        items,
        max_attempts=cfg.write_attempts,
        base_delay_s=cfg.write_base_delay_s,
        sleep=sleep,
    )
    for request_id, reason in unwritten.items():
        for seq in sequences_of[request_id]:
            failed[seq] = reason
        logger.error("prediction not written", request_id=request_id, reason=reason)

    _emit_metrics(cfg, processed=len(records) - len(failed), failed=len(failed), latencies=latencies)
    logger.info("batch done", records=len(records), failed=len(failed), written=len(items) - len(unwritten))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in dict.fromkeys(order) if seq in failed]}


def _emit_metrics(cfg: Settings, *, processed: int, failed: int, latencies: dict[str, list[float]]) -> None:
    dimensions = {names.DIMENSION: cfg.environment}
    emit(
        cfg.namespace,
        [
            Metric(names.STREAM_RECORDS_PROCESSED, processed, "Count"),
            Metric(names.STREAM_RECORDS_FAILED, failed, "Count"),
        ],
        dimensions,
    )
    for variant, values in latencies.items():
        for start in range(0, len(values), MAX_VALUES):
            emit(
                cfg.namespace,
                [Metric(names.PREDICTION_LATENCY, values[start : start + MAX_VALUES], "Milliseconds")],
                {**dimensions, names.VARIANT_DIMENSION: variant},
            )


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        # Not a Kinesis batch: there is no record to process, and none to report.
        if records is not None or not isinstance(event, dict):
            logger.error("event is not a Kinesis batch; nothing processed")
        records = []
    return process_batch(records, settings())
