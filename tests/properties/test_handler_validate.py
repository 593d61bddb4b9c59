"""validate, property-based: the only refusal is DataValidationError, and the verdict follows the counts exactly.

- For any object (valid training rows mixed with rows the rules reject, a row without a label among them, blank
  lines, a BOM, CRLF) and any thresholds, the result counts exactly the valid and the rejected rows, and the object
  passes exactly when valid >= MIN_TRAINING_ROWS and rejected / total <= MAX_REJECTED_FRACTION; otherwise a
  DataValidationError names the object and the rule.
- For any event (the payload mutated at any place, or any value at all), validate returns the result for the object
  the payload names or raises DataValidationError: never another exception, never a write.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
import validate
from hypothesis import given
from hypothesis import strategies as st

from tests.handlers.fakes import FEATURE_COUNT, MAX_OBJECT_BYTES, PROCESSED_BUCKET, RAW_BUCKET, FakeLambdaContext
from tests.handlers.strategies import HOSTILE_VALUES, examples, mutated, raw_object

pytestmark = pytest.mark.usefixtures("handler_env")

_keys = itertools.count()
# The documented refusals: the object and the rule, or the event part.
REFUSAL = re.compile(
    r"s3://[^ ]+ does not exist"
    r"|s3://.+: \d+ valid rows, at least \d+ required"
    r"|s3://.+: \d+ of \d+ rows rejected, at most [0-9.e-]+ allowed \(first: line \d+: .+\)"
    r"|s3://.+: object (is \d+ bytes; limit is|exceeds the limit of) \d+( bytes)?"
    r"|event must be an object with bucket and key"
    r"|event\.bucket must be an S3 bucket name \(a string of 3-63 a-z, 0-9, '\.', '-'\)"
    r"|event\.key must be a non-empty string of Unicode text"
    r"|event\.key must be at most 1024 bytes \(UTF-8\)",
    re.DOTALL,
)
FRACTIONS = st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]) | st.floats(0, 1)


@examples(60)
@given(case=raw_object(FEATURE_COUNT, require_label=True), min_rows=st.integers(1, 8), fraction=FRACTIONS)
def test_the_verdict_follows_the_counts_exactly(
    case: tuple[bytes, list[tuple[int, dict[str, Any] | None]]], min_rows: int, fraction: float, s3: Any
) -> None:
    body, rows = case
    key = f"train/{next(_keys)}.jsonl"
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)
    cfg = validate.Settings(FEATURE_COUNT, MAX_OBJECT_BYTES, min_rows, fraction)
    valid = sum(parsed is not None for _, parsed in rows)
    rejected = len(rows) - valid

    try:
        result = validate.validate_object({"bucket": RAW_BUCKET, "key": key}, cfg)
    except validate.DataValidationError as err:
        assert valid < min_rows or rejected / (valid + rejected) > fraction
        assert str(err).startswith(f"s3://{RAW_BUCKET}/{key}: ")
        assert REFUSAL.fullmatch(str(err)), str(err)
        rule = "valid rows, at least" if valid < min_rows else f"{rejected} of {valid + rejected} rows rejected"
        assert rule in str(err)
        return
    assert valid >= min_rows
    assert rejected / (valid + rejected) <= fraction
    assert result == {"bucket": RAW_BUCKET, "key": key, "rows": valid, "rejected": rejected, "status": "valid"}
    json.dumps(result, allow_nan=False)


_KEY = "train/good.jsonl"
_PAYLOAD = {"bucket": RAW_BUCKET, "key": _KEY}
_GOOD = "".join(
    json.dumps({"id": f"r{i}", "features": [1, 2, 3, i], "label": i % 2}) + "\n" for i in range(12)
).encode()


@examples(60)
@given(event=st.just(_PAYLOAD).flatmap(mutated) | HOSTILE_VALUES)
def test_any_event_is_a_result_or_a_data_validation_error(event: Any, s3: Any) -> None:
    s3.put_object(Bucket=RAW_BUCKET, Key=_KEY, Body=_GOOD)

    try:
        result = validate.handler(event, FakeLambdaContext())
    except validate.DataValidationError as err:
        assert REFUSAL.fullmatch(str(err)), str(err)
    else:
        assert (event["bucket"], event["key"]) == (RAW_BUCKET, _KEY)
        assert result == {"bucket": RAW_BUCKET, "key": _KEY, "rows": 12, "rejected": 0, "status": "valid"}
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0


@examples(30)
@given(body=st.binary(max_size=200) | st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_body_is_a_result_or_a_data_validation_error(body: bytes, s3: Any) -> None:
    key = f"any/{next(_keys)}"
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)
    cfg = validate.Settings(FEATURE_COUNT, MAX_OBJECT_BYTES, 1, 1.0)
    try:
        result = validate.validate_object({"bucket": RAW_BUCKET, "key": key}, cfg)
    except validate.DataValidationError as err:
        assert REFUSAL.fullmatch(str(err)), str(err)
    else:
        assert result["rows"] >= 1
