"""preprocess, property-based: one bad row never costs a good one, and the output is always strict JSON.

For any object mixing valid rows with invalid ones (not JSON, invalid UTF-8, lone surrogates, NaN, wrong types, bad
ids or features, blank lines, a BOM, CRLF) and any baseline (none, ordinary, degenerate: std 0 or 1e-300, means at
±1e125; or unusable), every valid row whose z-scores are finite is in processed/<key> in order, every other row is in
rejected/<key> with its line number and counted, and neither file holds NaN or Infinity.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import preprocess
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.handlers.fakes import ARTIFACTS_BUCKET, FEATURE_COUNT, PROCESSED_BUCKET, RAW_BUCKET, FakeLambdaContext
from tests.handlers.strategies import (
    CLEAN_TEXT,
    HOSTILE_VALUES,
    JSON_VALUES,
    TEXT_WITH_LONE_SURROGATE,
    bad_feature_vectors,
    examples,
    feature_vectors,
    mutated,
)

pytestmark = pytest.mark.usefixtures("handler_env")

BASELINE_KEY = "baseline/feature_stats.json"
UNSCALABLE = "features[{}] is not finite once z-scored against the baseline"
_keys = itertools.count()


def _dumps(value: Any, draw: st.DrawFn) -> bytes:
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def valid_row(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    row = draw(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=2))
    row["id"] = draw(CLEAN_TEXT | st.text(min_size=128, max_size=128))  # st.text never draws a surrogate
    row["features"] = draw(feature_vectors(FEATURE_COUNT))
    return _dumps(row, draw), {"id": row["id"], "features": [float(value) for value in row["features"]]}


@st.composite
def invalid_row(draw: st.DrawFn) -> bytes:
    good = {"id": "r", "features": [1, 2, 3, 4]}
    kind = draw(st.sampled_from(["text", "utf8", "not_object", "nan", "id", "features", "lone"]))
    if kind == "text":
        return b"#" + draw(st.text(max_size=20).map(lambda text: text.replace("\n", " "))).encode()
    if kind == "utf8":
        return b"\xff" + draw(st.binary(max_size=10)).replace(b"\n", b"")
    if kind == "not_object":
        return _dumps(draw(JSON_VALUES.filter(lambda value: not isinstance(value, dict))), draw)
    if kind == "nan":
        non_finite = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return json.dumps({**good, "features": [1, 2, non_finite, 4]}).encode()  # NaN/Infinity literals
    if kind == "id":
        bad_id = st.sampled_from(["", "x" * 129]) | TEXT_WITH_LONE_SURROGATE
        bad_id |= JSON_VALUES.filter(lambda value: not isinstance(value, str))
        return _dumps({**good, "id": draw(bad_id)}, draw)
    if kind == "features":
        return _dumps({**good, "features": draw(bad_feature_vectors(FEATURE_COUNT))}, draw)
    extra = draw(TEXT_WITH_LONE_SURROGATE)  # in a key or value the preprocessor drops
    return _dumps({**good, **draw(st.sampled_from([{"note": extra}, {extra: 0}]))}, draw)


_STD = st.floats(min_value=1e-3, max_value=1e6) | st.sampled_from([0.0, 1e-300, 5e-324, 1e125])
_MEAN = st.floats(min_value=-1e6, max_value=1e6) | st.sampled_from([1e125, -1e125])
_VECTOR = {"min_size": FEATURE_COUNT, "max_size": FEATURE_COUNT}
BASELINES = st.none() | st.fixed_dictionaries({"means": st.lists(_MEAN, **_VECTOR), "stds": st.lists(_STD, **_VECTOR)})
UNUSABLE_BASELINES = st.sampled_from(
    [b'{"means": [NaN, 0, 0, 0], "stds": [1, 1, 1, 1]}', b'{"means": [0, 0, 0, 0], "stds": [1, -1, 1, 1]}', b"[]"]
)


@st.composite
def raw_object(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, dict[str, Any] | None]]]:
    """(object body, [(line number, expected parsed row or None for an invalid row)]); blank lines are not listed."""
    lines, rows = [], []
    for kind in draw(st.lists(st.sampled_from(["valid", "valid", "invalid", "blank"]), min_size=1, max_size=15)):
        if kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t", b"\r"])))
            continue
        line, parsed = draw(valid_row()) if kind == "valid" else (draw(invalid_row()), None)
        lines.append(line)
        rows.append((len(lines), parsed))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return bom + eol.join(lines) + draw(st.sampled_from([b"", eol])), rows


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


@examples(60)
@given(case=raw_object(), baseline=BASELINES | UNUSABLE_BASELINES)
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
    for number, parsed in rows:
        if parsed is None:
            rejected_lines.append(number)
            continue
        z = _z_scores(parsed["features"], usable)
        bad = [index for index, value in enumerate(z) if not math.isfinite(value)]
        if bad:
            rejected_lines.append(number)
            unscalable[number] = UNSCALABLE.format(bad[0])
        else:
            expected.append({"id": parsed["id"], "features": z})
    assert (summary["status"], summary["processed"], summary["rejected"]) == ("ok", len(expected), len(rejected_lines))
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
