"""preprocess, property-based: one bad row never costs a good one, and the output is always strict JSON.

For any object mixing valid rows (with or without a label) with invalid ones (not JSON, invalid UTF-8, lone
surrogates, NaN, wrong types, bad ids, features or labels, blank lines, a BOM, CRLF) and any baseline (none,
ordinary, degenerate: std 0 or 1e-300, means at ±1e125; or unusable), every valid row whose z-scores are finite is in
processed/<key> in order, every other row is in rejected/<key> with its line number and counted, and neither file
holds NaN or Infinity. Every such row with a label is also in exactly one training CSV (label, z-scores; exact
numbers), the one its id hashes to.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any

import preprocess
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.handlers.fakes import ARTIFACTS_BUCKET, FEATURE_COUNT, PROCESSED_BUCKET, RAW_BUCKET, FakeLambdaContext
from tests.handlers.strategies import HOSTILE_VALUES, examples, mutated, raw_object

pytestmark = pytest.mark.usefixtures("handler_env")

BASELINE_KEY = "baseline/feature_stats.json"
UNSCALABLE = "features[{}] is not finite once z-scored against the baseline"
_keys = itertools.count()


_STD = st.floats(min_value=1e-3, max_value=1e6) | st.sampled_from([0.0, 1e-300, 5e-324, 1e125])
_MEAN = st.floats(min_value=-1e6, max_value=1e6) | st.sampled_from([1e125, -1e125])
_VECTOR = {"min_size": FEATURE_COUNT, "max_size": FEATURE_COUNT}
BASELINES = st.none() | st.fixed_dictionaries({"means": st.lists(_MEAN, **_VECTOR), "stds": st.lists(_STD, **_VECTOR)})
UNUSABLE_BASELINES = st.sampled_from(
    [b'{"means": [NaN, 0, 0, 0], "stds": [1, 1, 1, 1]}', b'{"means": [0, 0, 0, 0], "stds": [1, -1, 1, 1]}', b"[]"]
)


def _z_scores(features: list[float], baseline: dict[str, list[float]] | None) -> list[float]:
    """The oracle: z-score with std-0 features kept as they are."""
    if baseline is None:
        return features
    zipped = zip(features, baseline["means"], baseline["stds"], strict=True)
    return [(value - mean) / std if std > 0 else value for value, mean, std in zipped]


def _strict_rows(s3: Any, key: str) -> list[dict[str, Any]]:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} written to {key}")

    body = s3.get_object(Bucket=PROCESSED_BUCKET, Key=key)["Body"].read().decode("utf-8")  # strict UTF-8 too
    # JSON Lines ends lines with "\n" only; str.splitlines() would also split on U+2028/U+0085 inside an id.
    assert body == "" or body.endswith("\n")
    return [json.loads(line, parse_constant=refuse) for line in body.split("\n")[:-1]]


def _csv_rows(s3: Any, key: str) -> list[list[float]]:
    body = s3.get_object(Bucket=PROCESSED_BUCKET, Key=key)["Body"].read().decode("ascii")
    assert body == "" or body.endswith("\n")
    return [[float(value) for value in line.split(",")] for line in body.split("\n")[:-1]]


def _in_validation(record_id: str) -> bool:
    """The oracle of the split: the first 8 bytes of SHA-256(id), big-endian, mod 100 below 20."""
    return int.from_bytes(hashlib.sha256(record_id.encode("utf-8")).digest()[:8], "big") % 100 < 20


@examples(60)
@given(case=raw_object(FEATURE_COUNT), baseline=BASELINES | UNUSABLE_BASELINES)
def test_every_valid_row_is_processed_every_invalid_row_counted_and_the_output_is_strict_json(
    case: tuple[bytes, list[tuple[int, dict[str, Any] | None]]], baseline: Any, s3: Any
) -> None:
    body, rows = case
    key = f"incoming/{next(_keys)}.jsonl"
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)
    if baseline is None:
        s3.delete_object(Bucket=ARTIFACTS_BUCKET, Key=BASELINE_KEY)
    else:
        raw = baseline if isinstance(baseline, bytes) else json.dumps(baseline).encode()
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=BASELINE_KEY, Body=raw)
    usable = baseline if isinstance(baseline, dict) else None

    summary = preprocess.handler(
        {"detail": {"bucket": {"name": RAW_BUCKET}, "object": {"key": key}}}, FakeLambdaContext()
    )

    expected, rejected_lines, unscalable = [], [], {}
    channels: dict[str, list[list[float]]] = {"train": [], "validation": []}
    for number, parsed in rows:
        if parsed is None:
            rejected_lines.append(number)
            continue
        z = _z_scores(parsed["features"], usable)
        bad = [index for index, value in enumerate(z) if not math.isfinite(value)]
        if bad:
            rejected_lines.append(number)
            unscalable[number] = UNSCALABLE.format(bad[0])
            continue
        expected.append({"id": parsed["id"], "features": z})
        if "label" in parsed:
            channels["validation" if _in_validation(parsed["id"]) else "train"].append([parsed["label"], *z])
    assert (summary["status"], summary["processed"], summary["rejected"]) == ("ok", len(expected), len(rejected_lines))
    assert (summary["training_rows"], summary["validation_rows"]) == tuple(map(len, channels.values()))
    for channel, csv_rows in channels.items():
        assert _csv_rows(s3, f"training/{channel}/{key.removesuffix('.jsonl')}.csv") == csv_rows
    assert summary["drift"] is None or math.isfinite(summary["drift"])
    assert _strict_rows(s3, f"processed/{key}") == expected
    rejected = _strict_rows(s3, f"rejected/{key}")
    assert [row["line"] for row in rejected] == rejected_lines
    assert all(row["reason"] == unscalable[row["line"]] for row in rejected if row["line"] in unscalable)
    assert all(isinstance(row["reason"], str) and row["reason"] for row in rejected)


# --- the event ------------------------------------------------------------------------------------------------------

_EVENTBRIDGE = {"detail-type": "Object Created", "detail": {"bucket": {"name": "raw"}, "object": {"key": "a%20b"}}}
_NOTIFICATION = {"Records": [{"s3": {"bucket": {"name": "raw"}, "object": {"key": "a+b"}}}]}


@given(event=st.sampled_from([_EVENTBRIDGE, _NOTIFICATION]).flatmap(mutated) | HOSTILE_VALUES)
def test_any_event_names_objects_by_strings_or_is_refused_with_an_event_error(event: Any) -> None:
    try:
        refs = preprocess.object_refs(event)
    except preprocess.EventError as err:
        assert str(err).startswith("event carries no S3 object reference")
        return
    assert refs
    assert all(isinstance(bucket, str) and bucket and isinstance(key, str) and key for bucket, key in refs)
