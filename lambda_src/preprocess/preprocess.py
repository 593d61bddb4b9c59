"""Raw object → validated, normalised JSON Lines in the processed bucket; malformed rows kept aside with a reason.

Rows with a label are also written as headerless CSV (label, z-scored features) for SageMaker's built-in XGBoost,
split deterministically into a train and a validation channel.

Invoked by the training workflow's Preprocess task with an EventBridge-shaped event (S3 notification `Records[]` also
accepted). Emits RecordsProcessed, RecordsRejected and DataDrift (batch mean vs the training baseline) as EMF metrics.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlp_common import aws
from mlp_common import metric_names as names
from mlp_common.features import loads_strict, to_csv, validate_features
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.metrics import Metric, emit
from mlp_common.objects import ObjectRefused, read_object
from mlp_common.predictions import shard_of
from mlp_common.rows import ParsedObject, clean_line, parse_lines, rejection
from mlp_common.settings import env_int, env_str

VALIDATION_PERCENT = 20  # share of labelled rows in the validation channel, by a stable hash of the row id
_JSON_SUFFIXES = (".jsonl", ".json")

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
    """(z-scored records, every rejected row in line order) once the valid rows are z-scored.

    A record keeps its `label` when it has one. A finite value can z-score to ±Infinity (1e10 against a std of
    1e-300), which strict JSON cannot hold and no reader should get. Such a row is rejected with a reason, and
    counted, like a row that failed validation.
    """
    processed: list[dict[str, Any]] = []
    unscaled: list[tuple[int, str]] = []
    for number, record in zip(parsed.lines, parsed.records, strict=True):
        features = normalize(record["features"], baseline)
        index = next((i for i, value in enumerate(features) if not math.isfinite(value)), None)
        if index is None:
            processed.append({**record, "features": features})
        else:
            unscaled.append((number, f"features[{index}] is not finite once z-scored against the baseline"))
    if not unscaled:
        return processed, parsed.rejected
    lines = data.split(b"\n")  # only now: a degenerate baseline is rare, and the raw text is only kept for rejects
    rejected = parsed.rejected + [rejection(n, reason, clean_line(n, lines[n - 1])) for n, reason in unscaled]
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


def training_split(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(train, validation) CSV lines of the labelled records: label first, then the z-scored features.

    A row's channel depends on its id alone (the first 8 bytes of SHA-256(id) mod 100 < VALIDATION_PERCENT goes to
    validation), so a re-upload or a re-run puts every row where it was before. repr() writes the shortest text that
    reads back as the same float, so the CSV holds exactly the values written to processed/.
    """
    train: list[str] = []
    validation: list[str] = []
    for record in records:
        if "label" not in record:
            continue
        line = to_csv([record["label"], *record["features"]])
        (validation if shard_of(record["id"], 100) < VALIDATION_PERCENT else train).append(line)
    return train, validation


def csv_key(key: str) -> str:
    """The raw key with a trailing .jsonl/.json replaced by .csv (otherwise .csv appended)."""
    for suffix in _JSON_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)] + ".csv"
    return key + ".csv"


def process_object(bucket: str, key: str, cfg: Settings) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "processed": 0,
        "rejected": 0,
        "training_rows": 0,
        "validation_rows": 0,
        "drift": None,
    }
    if bucket == cfg.processed_bucket:
        # Writing back into the triggering bucket would re-trigger this function forever.
        return _refuse(summary, cfg, "source bucket is the processed bucket")
    s3 = aws.client("s3")
    try:
        data = read_object(s3, bucket, key, cfg.max_object_bytes)
    except ObjectRefused as err:
        return _refuse(summary, cfg, str(err))

    parsed = parse_lines(data, cfg.feature_count)
    baseline = load_baseline(s3, cfg.artifacts_bucket, cfg.baseline_key, cfg.feature_count)
    drift = data_drift(parsed.records, baseline)
    scaled, rejected = normalize_rows(parsed, baseline, data)
    processed = [{"id": record["id"], "features": record["features"]} for record in scaled]
    train, validation = training_split(scaled)
    # Every file is always written so a re-upload of the same key never leaves a stale companion file behind.
    _put_lines(s3, cfg.processed_bucket, f"processed/{key}", processed)
    _put_lines(s3, cfg.processed_bucket, f"rejected/{key}", rejected)
    _put_csv(s3, cfg.processed_bucket, f"training/train/{csv_key(key)}", train)
    _put_csv(s3, cfg.processed_bucket, f"training/validation/{csv_key(key)}", validation)

    metrics = [
        Metric(names.RECORDS_PROCESSED, len(processed), "Count"),
        Metric(names.RECORDS_REJECTED, len(rejected), "Count"),
    ]
    if drift is not None:
        metrics.append(Metric(names.DATA_DRIFT, drift, "None"))
    emit(cfg.namespace, metrics, {names.DIMENSION: cfg.environment})
    summary.update(
        processed=len(processed),
        rejected=len(rejected),
        training_rows=len(train),
        validation_rows=len(validation),
        drift=drift,
        status="ok",
    )
    logger.info("object processed", **summary)
    return summary


def _put_lines(s3: Any, bucket: str, key: str, rows: list[dict[str, Any]]) -> None:
    # allow_nan=False: the files are strict JSON Lines; a NaN/Infinity reaching this point is a bug, not data to write.
    body = "".join(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n" for row in rows).encode("utf-8")
    # No SSE parameters: the bucket's default encryption (SSE-KMS with our key) applies.
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")


def _put_csv(s3: Any, bucket: str, key: str, lines: list[str]) -> None:
    body = "".join(line + "\n" for line in lines).encode("ascii")  # numbers only
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")


def _refuse(summary: dict[str, Any], cfg: Settings, reason: str) -> dict[str, Any]:
    logger.error("object refused", bucket=summary["bucket"], key=summary["key"], reason=reason)
    emit(cfg.namespace, [Metric(names.OBJECTS_REFUSED, 1, "Count")], {names.DIMENSION: cfg.environment})
    return {**summary, "status": "failed", "reason": reason}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    cfg = settings()
    summaries = [process_object(bucket, key, cfg) for bucket, key in object_refs(event)]
    return summaries[0] if len(summaries) == 1 else {"objects": summaries}
