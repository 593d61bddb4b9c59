"""stream_consumer, property-based: one bad record never costs a good one.

In a batch mixing valid records with invalid ones (bad base64, invalid UTF-8, lone surrogates, NaN, wrong types,
bad ids or features), every valid record is written and exactly the invalid ones are reported, in batch order. In
phase two the same holds for model answers: a bad answer (lone surrogate, a number DynamoDB cannot store, an int
too large for a float, a malformed shape, a model error) fails its own record only, even when the model fails the
whole multi-row request that carried it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import stream_consumer
from hypothesis import given
from hypothesis import strategies as st
from mlp_common import aws, model

from tests.handlers.fakes import FEATURE_COUNT, PREDICTIONS_TABLE, FakeLambdaContext, kinesis_record, model_answer
from tests.handlers.strategies import (
    BAD_ANSWERS,
    CLEAN_TEXT,
    GOOD_ANSWERS,
    JSON_VALUES,
    TEXT_WITH_LONE_SURROGATE,
    bad_feature_vectors,
    examples,
    feature_vectors,
)

pytestmark = pytest.mark.usefixtures("handler_env")

Items = Callable[[], dict[str, dict[str, Any]]]


def _stored(value: float) -> Decimal:
    """What DynamoDB holds for a number we wrote (magnitudes below 1e-130 are stored as 0)."""
    return Decimal(0) if abs(value) < 1e-130 else Decimal(repr(float(value)))


def _encode(payload: Any, draw: st.DrawFn) -> bytes:
    """JSON bytes as a producer might send them: escaped or raw UTF-8 (a lone surrogate as its 3 raw bytes)."""
    return json.dumps(payload, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def valid_payload(draw: st.DrawFn, index: int) -> tuple[bytes, str | None, list[Any]]:
    """(data, request_id or None for the default id, features); extra keys are dropped by the consumer."""
    features = draw(feature_vectors(FEATURE_COUNT))
    payload: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=2))
    payload["features"] = features
    request_id = None
    mode = draw(st.sampled_from(["given", "absent", "null"]))
    if mode == "given":
        request_id = f"{index}-{draw(CLEAN_TEXT)}"[:128]  # the index keeps ids unique within the batch
        payload["request_id"] = request_id
    elif mode == "null":
        payload["request_id"] = None
    else:
        payload.pop("request_id", None)
    return _encode(payload, draw), request_id, features


@st.composite
def invalid_record(draw: st.DrawFn, sequence: str) -> dict[str, Any]:
    """A record the consumer must report, whichever way it is broken."""
    good = {"request_id": f"bad-{sequence}", "features": [1, 2, 3, 4]}
    kind = draw(st.sampled_from(["base64", "data_type", "utf8", "not_object", "nan", "request_id", "features", "lone"]))
    if kind == "base64":
        record = kinesis_record(sequence, b"")
        record["kinesis"]["data"] = draw(st.sampled_from(["***", "é", "YQ", "not base64!"]))
        return record
    if kind == "data_type":
        record = kinesis_record(sequence, b"")
        record["kinesis"]["data"] = draw(st.integers() | st.lists(st.text(max_size=3), max_size=2) | st.none())
        return record
    if kind == "utf8":
        data = b"\xff" + draw(st.binary(max_size=8)) + json.dumps(good).encode()
    elif kind == "not_object":
        data = _encode(draw(JSON_VALUES.filter(lambda value: not isinstance(value, dict))), draw)
    elif kind == "nan":
        data = json.dumps({**good, "features": [1, 2, draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])), 4]})
        data = data.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity").replace('"-Infinity"', "-Infinity")
        data = data.encode()
    elif kind == "request_id":
        bad_id = st.sampled_from(["", "x" * 129]) | TEXT_WITH_LONE_SURROGATE
        bad_id |= JSON_VALUES.filter(lambda value: value is not None and not isinstance(value, str))
        data = _encode({**good, "request_id": draw(bad_id)}, draw)
    elif kind == "features":
        data = _encode({**good, "features": draw(bad_feature_vectors(FEATURE_COUNT))}, draw)
    else:  # a lone surrogate in a key or value the consumer does not even use
        extra = draw(TEXT_WITH_LONE_SURROGATE)
        data = _encode({**good, **draw(st.sampled_from([{"note": extra}, {extra: 1}]))}, draw)
    return kinesis_record(sequence, data)


@st.composite
def mixed_batch(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, list[Any]], list[str]]:
    """(records, {expected request_id: features}, sequence numbers of the invalid records in batch order)."""
    records, expected, invalid = [], {}, []
    for index, is_valid in enumerate(draw(st.lists(st.booleans(), min_size=1, max_size=12))):
        sequence = f"4959{index:04d}"
        if is_valid:
            data, request_id, features = draw(valid_payload(index))
            record = kinesis_record(sequence, data)
            expected[request_id or stream_consumer.default_request_id(record)] = features
        else:
            record = draw(invalid_record(sequence))
            invalid.append(sequence)
        records.append(record)
    return records, expected, invalid


def _clear_table(ddb: Any) -> None:
    """Hypothesis reuses the test's moto table for every example: start each from an empty table."""
    for item in ddb.scan(TableName=PREDICTIONS_TABLE, ProjectionExpression="request_id")["Items"]:
        ddb.delete_item(TableName=PREDICTIONS_TABLE, Key={"request_id": item["request_id"]})


@examples(60)
@given(batch=mixed_batch())
def test_every_valid_record_is_written_and_exactly_the_invalid_ones_are_reported(
    batch: tuple[list[dict[str, Any]], dict[str, list[Any]], list[str]], tables: Any, prediction_items: Items
) -> None:
    records, expected, invalid = batch
    _clear_table(tables)

    result = stream_consumer.handler({"Records": records}, FakeLambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in invalid]}
    items = prediction_items()
    assert set(items) == set(expected)
    for request_id, features in expected.items():
        assert items[request_id]["features"] == [_stored(value) for value in features]
        assert (items[request_id]["status"], items[request_id]["source"]) == ("queued", "stream")


# --- phase two: the model's answers -------------------------------------------------------------------------------


@st.composite
def answered_batch(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], list[str]]:
    """(records, {CSV body: answer}, {request_id: expected prediction}, sequence numbers of bad answers)."""
    records, answers, expected, failed = [], {}, {}, []
    for index, good in enumerate(draw(st.lists(st.booleans(), min_size=1, max_size=8))):
        features = [index, *draw(feature_vectors(FEATURE_COUNT - 1))]  # the index makes each CSV body unique
        sequence, request_id = f"{index}", f"req-{index}"
        records.append(kinesis_record(sequence, {"request_id": request_id, "features": features}))
        csv = ",".join(repr(float(value)) for value in features)
        if good:
            answers[csv], expected[request_id] = draw(GOOD_ANSWERS)
        else:
            answers[csv] = draw(BAD_ANSWERS)
            failed.append(sequence)
    return records, answers, expected, failed


def _good(answer: bytes | Exception) -> bool:
    try:
        return not isinstance(answer, Exception) and model.parse_prediction(answer) is not None
    except model.ModelInvocationError:
        return False


def _joined(answers: list[Any]) -> bytes:
    """Good single-row answers as one multi-row answer."""
    values = [model.parse_prediction(answer) for answer in answers]
    return json.dumps({"predictions": values}, ensure_ascii=False).encode()


@examples(40)
@given(batch=answered_batch())
def test_a_bad_model_answer_fails_only_its_own_record(
    batch: tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tables: Any,
    prediction_items: Items,
) -> None:
    records, answers, expected, failed = batch
    _clear_table(tables)
    monkeypatch.setenv("ENDPOINTS_ENABLED", "true")
    stream_consumer.settings.cache_clear()

    def invoke_endpoint(**kwargs: Any) -> dict[str, Any]:
        rows = kwargs["Body"].split("\n")
        # A request of several rows is answered whole, or failed whole by its first bad row (the consumer then splits
        # it until that row is alone): one prediction per row, in row order.
        bad = [answers[row] for row in rows if not _good(answers[row])]
        answer = answers[rows[0]] if len(rows) == 1 else bad[0] if bad else _joined([answers[row] for row in rows])
        if isinstance(answer, Exception):
            raise answer
        return model_answer(answer)

    monkeypatch.setattr(aws.client("sagemaker-runtime"), "invoke_endpoint", invoke_endpoint)

    result = stream_consumer.handler({"Records": records}, FakeLambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
    items = prediction_items()
    assert set(items) == set(expected)
    for request_id, prediction in expected.items():
        stored = items[request_id]["prediction"]
        assert stored == (prediction if isinstance(prediction, str) else _stored(prediction))
        assert items[request_id]["status"] == "completed"
