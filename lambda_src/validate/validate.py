"""ValidateData task of the training workflow: is a raw training upload good enough to train on?

Every line is checked with the row rules preprocess applies (mlp_common.rows), and a training row must also carry a
finite numeric `label`. The object passes when it has at least MIN_TRAINING_ROWS valid rows and at most
MAX_REJECTED_FRACTION of its rows are rejected. Anything else raises DataValidationError, an error name the workflow
does not retry: the data will not get better by trying again. Other AWS errors raise as they are (the workflow
retries them). Nothing is written.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mlp_common import aws
from mlp_common.features import has_lone_surrogate
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.objects import ObjectMissing, ObjectTooLarge, read_object
from mlp_common.rows import parse_lines
from mlp_common.settings import ConfigError, env_float, env_int

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
LOGGED_REJECTIONS = 5  # the first rejected rows (line and reason, never the text) go to the log
# S3's rule for a bucket name: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit at both ends.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

logger = Logger("validate")


class DataValidationError(ValueError):
    """The upload (or the event naming it) is not usable training data. `str(err)` names the object and the rule.

    Step Functions sees the class name as the error name; the workflow does not retry it.
    """


@dataclass(frozen=True)
class Settings:
    feature_count: int
    max_object_bytes: int
    min_rows: int
    max_rejected_fraction: float

    @classmethod
    def from_env(cls) -> Settings:
        fraction = env_float("MAX_REJECTED_FRACTION", 0.1)
        if not 0 <= fraction <= 1:
            raise ConfigError("MAX_REJECTED_FRACTION", f"must be between 0 and 1, got {fraction}")
        return cls(
            feature_count=env_int("FEATURE_COUNT", minimum=1),
            max_object_bytes=env_int("MAX_OBJECT_BYTES", minimum=1),
            min_rows=env_int("MIN_TRAINING_ROWS", 10, minimum=1),
            max_rejected_fraction=fraction,
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


def object_ref(event: Any) -> tuple[str, str]:
    """(bucket, key) from the task payload; DataValidationError naming the part otherwise.

    The training workflow passes on the raw upload's EventBridge event, ``{"detail": {"bucket": {"name"}, "object":
    {"key"}}}``, whose key is percent-encoded (as preprocess reads it: ``+`` stays literal); ``{"bucket", "key"}`` with
    the key as stored is accepted too (a manual run).
    """
    if isinstance(event, dict) and "detail" in event:
        event = _from_object_created(event["detail"])
    if not isinstance(event, dict):
        raise DataValidationError("event must be an object with bucket and key")
    bucket, key = event.get("bucket"), event.get("key")
    if not isinstance(bucket, str) or not _BUCKET_NAME.fullmatch(bucket):
        raise DataValidationError("event.bucket must be an S3 bucket name (a string of 3-63 a-z, 0-9, '.', '-')")
    if not isinstance(key, str) or not key or has_lone_surrogate(key):
        raise DataValidationError("event.key must be a non-empty string of Unicode text")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise DataValidationError(f"event.key must be at most {MAX_KEY_BYTES} bytes (UTF-8)")
    return bucket, key


def _from_object_created(detail: Any) -> dict[str, Any]:
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    obj = detail.get("object") if isinstance(detail, dict) else None
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise DataValidationError("event.detail must hold bucket.name and object.key")
    key = obj.get("key")
    return {"bucket": bucket.get("name"), "key": urllib.parse.unquote(key) if isinstance(key, str) else key}


def validate_object(event: Any, cfg: Settings) -> dict[str, Any]:
    bucket, key = object_ref(event)
    where = f"s3://{bucket}/{key}"
    try:
        data = read_object(aws.client("s3"), bucket, key, cfg.max_object_bytes)
    except ObjectTooLarge as err:
        raise DataValidationError(f"{where}: {err}") from None
    except Exception as err:
        # A missing bucket holds no object either, and no retry will create it.
        if isinstance(err, ObjectMissing) or aws.error_code(err) == "NoSuchBucket":
            raise DataValidationError(f"{where} does not exist") from None
        raise

    parsed = parse_lines(data, cfg.feature_count, require_label=True)
    valid, rejected = len(parsed.records), len(parsed.rejected)
    log = {
        "bucket": bucket,
        "key": key,
        "rows": valid,
        "rejected": rejected,
        "first_rejections": [{"line": r["line"], "reason": r["reason"]} for r in parsed.rejected[:LOGGED_REJECTIONS]],
    }
    logger.info("training data checked", **log)
    if valid < cfg.min_rows:
        raise DataValidationError(f"{where}: {valid} valid rows, at least {cfg.min_rows} required")
    # valid >= min_rows >= 1, so the total is never 0. Division rounds the exact ratio once, as the literal
    # MAX_REJECTED_FRACTION was rounded: 29 of 100 rejected is not more than 0.29.
    if rejected / (valid + rejected) > cfg.max_rejected_fraction:
        rule = f"{rejected} of {valid + rejected} rows rejected, at most {cfg.max_rejected_fraction!r} allowed"
        first = parsed.rejected[0]
        raise DataValidationError(f"{where}: {rule} (first: line {first['line']}: {first['reason']})")
    return {"bucket": bucket, "key": key, "rows": valid, "rejected": rejected, "status": "valid"}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    cfg = settings()
    try:
        return validate_object(event, cfg)
    except DataValidationError as err:
        logger.error("training data refused", reason=str(err))
        raise
