"""Kinesis inference-request consumer: decode → validate → predict (or queue in phase one) → BatchWriteItem.

Phase two predicts the batch in multi-row CSV requests (as many rows per InvokeEndpoint call as the payload limit
allows), not one call per record. Reports partial batch failures (ReportBatchItemFailures): only the records that
are invalid or could not be predicted/written are returned, so a poison record never blocks or loses the rest of the
batch. Writes are keyed by request_id, so a replayed record overwrites its own item (idempotent).
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlp_common import aws, model
from mlp_common import metric_names as names
from mlp_common.features import FeatureError, LoneSurrogateError, loads_strict, to_csv, validate_features
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.metrics import MAX_VALUES, Metric, emit
from mlp_common.predictions import batch_write, prediction_item
from mlp_common.settings import env_flag, env_int, env_str

MAX_REQUEST_ID_LENGTH = 128
# Extra InvokeEndpoint calls one batch may spend re-sending the halves of failed requests, to isolate the rows that
# failed them. Isolating one poison row among 100 costs 2 x ceil(log2 100) = 14 calls, so 32 isolates two; an endpoint
# that fails every request costs the batch at most its requests + 32 calls.
MAX_SPLIT_CALLS = 32
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
    max_request_bytes: int = model.MAX_BATCH_BYTES  # one InvokeEndpoint body: rows joined by newlines, UTF-8
    max_split_calls: int = MAX_SPLIT_CALLS

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
    runtime: Any = None,
    ddb: Any = None,
) -> dict[str, Any]:
    """Decode, predict (phase two) or queue (phase one), write; the records to report as batch item failures.

    `runtime` and `ddb` default to the container's sagemaker-runtime and dynamodb clients.
    """
    failed: dict[str, str] = {}  # sequence number → reason
    order = [sequence_number(record) for record in records]
    latest, sequences_of = _decode_all(records, cfg, failed)

    def fail(request_id: str, reason: str) -> None:
        for seq in sequences_of[request_id]:
            failed[seq] = reason

    now = now or datetime.now(UTC)
    if cfg.endpoints_enabled:
        runtime = aws.client("sagemaker-runtime") if runtime is None else runtime
        outcome = predict(list(latest.values()), cfg, runtime, now=now)
        for request_id, reason in outcome.failures.items():
            fail(request_id, reason)
            logger.warning("prediction failed", request_id=request_id, reason=reason)
    else:
        items = [
            prediction_item(request_id, features=request.features, source="stream", now=now, ttl_days=cfg.ttl_days)
            for request_id, request in latest.items()
        ]
        outcome = Predicted(items=items)

    unwritten = batch_write(
        aws.client("dynamodb") if ddb is None else ddb,
        cfg.predictions_table,
        outcome.items,
        max_attempts=cfg.write_attempts,
        base_delay_s=cfg.write_base_delay_s,
        sleep=sleep,
    )
    for request_id, reason in unwritten.items():
        fail(request_id, reason)
        logger.error("prediction not written", request_id=request_id, reason=reason)

    _emit_metrics(cfg, processed=len(records) - len(failed), failed=len(failed), latencies=outcome.latencies)
    logger.info(
        "batch done",
        records=len(records),
        failed=len(failed),
        written=len(outcome.items) - len(unwritten),
        endpoint_calls=outcome.calls,
    )
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in dict.fromkeys(order) if seq in failed]}


def _decode_all(
    records: list[dict[str, Any]], cfg: Settings, failed: dict[str, str]
) -> tuple[dict[str, StreamRequest], dict[str, list[str]]]:
    """({request_id: the batch's last valid record of it}, {request_id: the sequence numbers carrying it}).

    The last record wins for a request_id seen twice in one batch: BatchWriteItem refuses duplicate keys, and the
    later record is the one a replay-free stream would have left in the table. Invalid records go to `failed`.
    """
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
    return latest, sequences_of


@dataclass
class Predicted:
    """What the endpoint answered for a batch: items to write, failures by request_id, latencies by variant."""

    items: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # request_id → reason
    latencies: dict[str, list[float]] = field(default_factory=dict)  # variant → one latency per request
    calls: int = 0  # InvokeEndpoint calls made


def request_chunks(rows: Sequence[str], max_bytes: int) -> tuple[list[list[int]], list[int]]:
    """Indexes of `rows` packed in order into requests whose body (rows joined by newlines, UTF-8) fits `max_bytes`.

    Greedy: a request takes rows until the next one would not fit. Returns (requests, rows that alone exceed the
    limit, which no request can carry).
    """
    chunks: list[list[int]] = []
    oversize: list[int] = []
    current: list[int] = []
    size = 0
    for index, row in enumerate(rows):
        row_bytes = len(row.encode("utf-8"))
        if row_bytes > max_bytes:
            oversize.append(index)
            continue
        if current and size + 1 + row_bytes > max_bytes:  # + 1: the newline before the row
            chunks.append(current)
            current, size = [], 0
        size += row_bytes + (1 if current else 0)
        current.append(index)
    if current:
        chunks.append(current)
    return chunks, oversize


def predict(requests: list[StreamRequest], cfg: Settings, runtime: Any, *, now: datetime) -> Predicted:
    """Predict every request with as few multi-row InvokeEndpoint calls as the payload limit allows.

    A request (a chunk of rows) that fails in a way its rows may have caused (ModelError, an answer that cannot be
    read or whose count is not the rows sent) is split in two halves, each sent again, while
    `cfg.max_split_calls` allows: a poison row ends up alone and fails by itself. Any other failure (throttling,
    transport, the endpoint's state, an unexpected error), or one past the split budget, fails the chunk's records.
    """
    rows = [to_csv(request.features) for request in requests]
    chunks, oversize = request_chunks(rows, cfg.max_request_bytes)
    out = Predicted()
    for index in oversize:
        out.failures[requests[index].request_id] = f"features exceed the {cfg.max_request_bytes}-byte request limit"
    budget = cfg.max_split_calls
    pending = chunks[::-1]  # a stack: chunks in batch order, halves of a split chunk before the next chunk
    while pending:
        chunk = pending.pop()
        out.calls += 1
        try:
            answer = model.invoke_rows(runtime, cfg.endpoint_name, [rows[index] for index in chunk])
        except Exception as err:  # one chunk's failure must not cost the other chunks their predictions
            reason, splittable = _failure(err)
            if splittable and len(chunk) > 1 and budget >= 2:
                budget -= 2
                half = len(chunk) // 2
                pending += [chunk[half:], chunk[:half]]
                logger.warning("prediction request split", rows=len(chunk), reason=reason)
                continue
            for index in chunk:
                out.failures[requests[index].request_id] = reason
            continue
        _record(out, [requests[index] for index in chunk], answer, cfg, now)
    return out


def _failure(err: Exception) -> tuple[str, bool]:
    """(reason, whether a smaller request may succeed) of a failed InvokeEndpoint call."""
    if isinstance(err, model.ModelInvocationError):
        return str(err), err.request_specific
    return f"unexpected {type(err).__name__}", False


def _record(
    out: Predicted, chunk: list[StreamRequest], answer: model.BatchPrediction, cfg: Settings, now: datetime
) -> None:
    out.latencies.setdefault(answer.variant, []).append(answer.latency_ms)
    for request, value in zip(chunk, answer.values, strict=True):
        if value is None:  # this row's answer cannot be stored; the rest of the request keeps its predictions
            out.failures[request.request_id] = "unparseable model response"
            continue
        out.items.append(
            prediction_item(
                request.request_id,
                features=request.features,
                source="stream",
                now=now,
                ttl_days=cfg.ttl_days,
                prediction=value,
                variant=answer.variant,
                latency_ms=answer.latency_ms,
            )
        )


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
