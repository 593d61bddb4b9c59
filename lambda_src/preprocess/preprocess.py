"""Raw object → validated, normalised JSON Lines in the processed bucket; malformed rows kept aside with a reason.

Triggered by EventBridge "Object Created" events from the raw bucket (S3 notification `Records[]` also accepted).
Emits RecordsProcessed, RecordsRejected and DataDrift (batch mean vs the training baseline) as EMF metrics.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlp_common import aws
from mlp_common.features import FeatureError, LoneSurrogateError, loads_strict, validate_features
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.metrics import Metric, emit
from mlp_common.settings import env_int, env_str

MAX_ID_LENGTH = 128
MAX_RAW_BYTES = 1024  # a rejected row keeps at most 1 KiB of its original text
_BOM = b"\xef\xbb\xbf"

logger = Logger("preprocess")


@dataclass(frozen=True)
class Settings:
    processed_bucket: str
    artifacts_bucket: str
    baseline_key: str
    feature_count: int
    max_object_bytes: int
    namespace: str
    environment: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            processed_bucket=env_str("PROCESSED_BUCKET"),
            artifacts_bucket=env_str("MODEL_ARTIFACTS_BUCKET"),
            baseline_key=env_str("BASELINE_KEY", "baseline/feature_stats.json"),
            feature_count=env_int("FEATURE_COUNT", minimum=1),
            max_object_bytes=env_int("MAX_OBJECT_BYTES", 50 * 1024 * 1024, minimum=1),
            namespace=env_str("METRICS_NAMESPACE", "MlPipeline"),
            environment=env_str("ENVIRONMENT"),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class Baseline:
    means: list[float]
    stds: list[float]


@dataclass
class ParsedObject:
    records: list[dict[str, Any]]  # {"id": str, "features": [float]} with raw (un-normalised) features
    rejected: list[dict[str, Any]]  # {"line": n, "reason": str, "raw": str}
    lines: list[int] = field(default_factory=list)  # the line number of each record


class EventError(ValueError):
    """The event names no S3 object, or names one with parts of the wrong type (nothing is read or written)."""


def object_refs(event: Any) -> list[tuple[str, str]]:
    """(bucket, key) pairs from an EventBridge S3 event or an S3 notification; EventError if there is none."""
    if not isinstance(event, dict):
        raise EventError("event carries no S3 object reference (not an object)")
    detail = event.get("detail")
    if isinstance(detail, dict) and "bucket" in detail:
        # EventBridge percent-encodes keys but leaves "+" literal, unlike S3 notifications.
        return [_object_ref(detail, "detail", urllib.parse.unquote)]
    records = event.get("Records") or []
    if not isinstance(records, list):
        raise EventError("event carries no S3 object reference (Records is not a list)")
    refs = []
    for index, record in enumerate(records):
        s3 = record.get("s3") if isinstance(record, dict) else None
        refs.append(_object_ref(s3, f"Records[{index}].s3", urllib.parse.unquote_plus))
    if not refs:
        raise EventError("event carries no S3 object reference")
    return refs


def _object_ref(part: Any, where: str, unquote: Callable[[str], str]) -> tuple[str, str]:
    bucket = part.get("bucket") if isinstance(part, dict) else None
    name = bucket.get("name") if isinstance(bucket, dict) else None
    obj = part.get("object") if isinstance(part, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(name, str) or not name or not isinstance(key, str) or not key:
        raise EventError(f"event carries no S3 object reference ({where}: bucket.name and object.key must be strings)")
    return name, unquote(key)


def parse_lines(data: bytes, feature_count: int) -> ParsedObject:
    parsed = ParsedObject(records=[], rejected=[])
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = _clean_line(number, line)
        if not line.strip():
            continue
        try:
            parsed.records.append(parse_record(line, feature_count))
        except ValueError as err:
            parsed.rejected.append(_rejection(number, str(err), line))
        else:
            parsed.lines.append(number)
    return parsed


def _clean_line(number: int, line: bytes) -> bytes:
    if number == 1 and line.startswith(_BOM):
        line = line[len(_BOM) :]
    return line.rstrip(b"\r")


def _rejection(number: int, reason: str, line: bytes) -> dict[str, Any]:
    return {"line": number, "reason": reason, "raw": line[:MAX_RAW_BYTES].decode("utf-8", "replace")}


def parse_record(line: bytes, feature_count: int) -> dict[str, Any]:
    """One JSON Lines row → {"id", "features"}; unknown keys are dropped. Raises ValueError with the reason."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("line is not valid UTF-8") from None
    try:
        row = loads_strict(text)
    except LoneSurrogateError:
        raise ValueError("line holds a lone surrogate (not valid Unicode)") from None
    except ValueError:
        raise ValueError("line is not valid JSON") from None
    if not isinstance(row, dict):
        raise ValueError("line is not a JSON object")
    record_id = row.get("id")
    if not isinstance(record_id, str) or not 0 < len(record_id) <= MAX_ID_LENGTH:
        raise ValueError(f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    try:
        features = validate_features(row.get("features"), feature_count)
    except FeatureError as err:
        raise ValueError(str(err)) from None
    return {"id": record_id, "features": features}


def load_baseline(s3: Any, bucket: str, key: str, feature_count: int) -> Baseline | None:
    """The training baseline, or None (logged) when it is absent or unusable; other AWS errors propagate."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as err:
        code = aws.error_code(err)
        if code in ("NoSuchKey", "404"):
            logger.info("baseline not found; data drift skipped", bucket=bucket, key=key)
            return None
        if code == "AccessDenied":
            # S3 answers AccessDenied, not NoSuchKey, for a missing key when the role lacks s3:ListBucket. The baseline
            # is optional, so its absence must not stop data processing; the ERROR line makes the gap visible.
            logger.error("baseline not readable (missing, or no s3:ListBucket); data drift skipped", key=key)
            return None
        raise
    try:
        stats = loads_strict(body)
        means = validate_features(stats.get("means"), feature_count)
        stds = validate_features(stats.get("stds"), feature_count)
    except (ValueError, AttributeError) as err:
        logger.error("baseline unusable; data drift skipped", bucket=bucket, key=key, reason=str(err))
        return None
    if any(std < 0 for std in stds):
        logger.error("baseline unusable; data drift skipped", bucket=bucket, key=key, reason="negative std")
        return None
    return Baseline(means, stds)


def normalize(features: list[float], baseline: Baseline | None) -> list[float]:
    """z-score against the baseline; a feature with baseline std 0 (or no baseline) is kept as-is."""
    if baseline is None:
        return list(features)
    return [
        (value - mean) / std if std > 0 else value
        for value, mean, std in zip(features, baseline.means, baseline.stds, strict=True)
    ]


def normalize_rows(parsed: ParsedObject, baseline: Baseline | None, data: bytes) -> tuple[list[dict], list[dict]]:
    """(processed rows, every rejected row in line order) once the valid rows are z-scored.

    A finite value can z-score to ±Infinity (1e10 against a std of 1e-300), which strict JSON cannot hold and no
    reader should get. Such a row is rejected with a reason, and counted, like a row that failed validation.
    """
    processed: list[dict[str, Any]] = []
    unscaled: list[tuple[int, str]] = []
    for number, record in zip(parsed.lines, parsed.records, strict=True):
        features = normalize(record["features"], baseline)
        index = next((i for i, value in enumerate(features) if not math.isfinite(value)), None)
        if index is None:
            processed.append({"id": record["id"], "features": features})
        else:
            unscaled.append((number, f"features[{index}] is not finite once z-scored against the baseline"))
    if not unscaled:
        return processed, parsed.rejected
    lines = data.split(b"\n")  # only now: a degenerate baseline is rare, and the raw text is only kept for rejects
    rejected = parsed.rejected + [_rejection(n, reason, _clean_line(n, lines[n - 1])) for n, reason in unscaled]
    return processed, sorted(rejected, key=lambda row: row["line"])


def data_drift(records: list[dict[str, Any]], baseline: Baseline | None) -> float | None:
    """max over features of |batch mean - baseline mean| / baseline std (std 0 features skipped)."""
    if baseline is None or not records:
        return None
    drifts = []
    for index, (mean, std) in enumerate(zip(baseline.means, baseline.stds, strict=True)):
        if std <= 0:
            continue
        batch_mean = math.fsum(record["features"][index] for record in records) / len(records)
        drifts.append(abs(batch_mean - mean) / std)
    drift = max(drifts, default=None)
    return drift if drift is not None and math.isfinite(drift) else None


def process_object(bucket: str, key: str, cfg: Settings) -> dict[str, Any]:
    summary: dict[str, Any] = {"bucket": bucket, "key": key, "processed": 0, "rejected": 0, "drift": None}
    if bucket == cfg.processed_bucket:
        # Writing back into the triggering bucket would re-trigger this function forever.
        return _refuse(summary, cfg, "source bucket is the processed bucket")
    s3 = aws.client("s3")
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as err:
        if aws.error_code(err) in ("NoSuchKey", "404"):
            return _refuse(summary, cfg, "object not found")
        raise
    body = response["Body"]
    size = int(response.get("ContentLength") or 0)
    if size > cfg.max_object_bytes:
        body.close()
        return _refuse(summary, cfg, f"object is {size} bytes; limit is {cfg.max_object_bytes}")
    data = body.read(cfg.max_object_bytes + 1)
    if len(data) > cfg.max_object_bytes:
        return _refuse(summary, cfg, f"object exceeds the limit of {cfg.max_object_bytes} bytes")

    parsed = parse_lines(data, cfg.feature_count)
    baseline = load_baseline(s3, cfg.artifacts_bucket, cfg.baseline_key, cfg.feature_count)
    drift = data_drift(parsed.records, baseline)
    processed, rejected = normalize_rows(parsed, baseline, data)
    # Both files are always written so a re-upload of the same key never leaves a stale companion file behind.
    _put_lines(s3, cfg.processed_bucket, f"processed/{key}", processed)
    _put_lines(s3, cfg.processed_bucket, f"rejected/{key}", rejected)

    metrics = [
        Metric("RecordsProcessed", len(processed), "Count"),
        Metric("RecordsRejected", len(rejected), "Count"),
    ]
    if drift is not None:
        metrics.append(Metric("DataDrift", drift, "None"))
    emit(cfg.namespace, metrics, {"Environment": cfg.environment})
    summary.update(processed=len(processed), rejected=len(rejected), drift=drift, status="ok")
    logger.info("object processed", **summary)
    return summary


def _put_lines(s3: Any, bucket: str, key: str, rows: list[dict[str, Any]]) -> None:
    # allow_nan=False: the files are strict JSON Lines; a NaN/Infinity reaching this point is a bug, not data to write.
    body = "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows).encode("utf-8")
    # No SSE parameters: the bucket's default encryption (SSE-KMS with our key) applies.
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")


def _refuse(summary: dict[str, Any], cfg: Settings, reason: str) -> dict[str, Any]:
    logger.error("object refused", bucket=summary["bucket"], key=summary["key"], reason=reason)
    emit(cfg.namespace, [Metric("ObjectsRefused", 1, "Count")], {"Environment": cfg.environment})
    return {**summary, "status": "failed", "reason": reason}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    cfg = settings()
    summaries = [process_object(bucket, key, cfg) for bucket, key in object_refs(event)]
    return summaries[0] if len(summaries) == 1 else {"objects": summaries}
