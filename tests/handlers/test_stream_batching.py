"""stream_consumer, phase two: records predicted in multi-row requests, failures kept to the records they belong to.

The endpoint is a fake (`FakeEndpoint`) that answers one score per CSV row, derived from the row, so a score stored
for the wrong record shows. The answer parser (`model.parse_predictions`) and the chunking rule
(`stream_consumer.request_chunks`) are tested on their own first.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import stream_consumer
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from mlp_common import aws, model
from mlp_common.features import to_csv

from tests.handlers.fakes import (
    PREDICTIONS_TABLE,
    FakeLambdaContext,
    emf_documents,
    kinesis_record,
    log_lines,
    model_answer,
)
from tests.handlers.strategies import examples
from tests.support.bench_stream import stream_figures

Items = Callable[[], dict[str, dict[str, Any]]]
Respond = Callable[[int, list[str]], "bytes | Exception"]


def _features(i: int) -> list[float]:
    return [float(i), i + 0.5, float(-i), 1.0]


def _row(i: int) -> str:
    return to_csv(_features(i))


def _score(row: str) -> float:
    """The fake model's score of a row: its first feature / 1000, so each record's expected score is known."""
    return float(row.split(",")[0]) / 1000


def _scores(rows: list[str]) -> bytes:
    return json.dumps({"predictions": [{"score": _score(row)} for row in rows]}).encode()


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "InvokeEndpoint")


class FakeEndpoint:
    """invoke_endpoint stand-in: records each call's rows and answers `respond(call index, rows)` (a body, or an
    exception to raise); the answering variant alternates A, B, A, ... by call."""

    def __init__(self, respond: Respond | None = None) -> None:
        self.respond = respond or (lambda _call, rows: _scores(rows))
        self.calls: list[tuple[list[str], str]] = []  # (rows, variant) of every call

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        rows = request["Body"].split("\n")
        variant = "AB"[len(self.calls) % 2]
        self.calls.append((rows, variant))
        outcome = self.respond(len(self.calls) - 1, rows)
        if isinstance(outcome, Exception):
            raise outcome
        return model_answer(outcome, variant)


class CountingWrites:
    """Wraps a client's batch_write_item: the size of every call, the call passed on unchanged."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real, self.calls = real, []

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(len(request["RequestItems"][PREDICTIONS_TABLE]))
        return self.real(**request)


def _records(count: int) -> list[dict[str, Any]]:
    return [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(count)]


def _phase_two(**changes: Any) -> stream_consumer.Settings:
    return dataclasses.replace(stream_consumer.settings(), endpoints_enabled=True, **changes)


def _failures(result: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


# --- the answer parser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[0.1, 0.2, 0.3]", [0.1, 0.2, 0.3]),  # the XGBoost container's application/json answer
        (b'{"predictions": [{"score": 0.1}, {"score": 0.2}, {"score": 0.3}]}', [0.1, 0.2, 0.3]),
        (b'{"predictions": [0.1, "yes", 3]}', [0.1, "yes", 3.0]),
        (b"0.1\n0.2\n0.3\n", [0.1, 0.2, 0.3]),  # text/csv, one line per row (batch transform)
        (b"0.1\r\n0.2\r\n0.3", [0.1, 0.2, 0.3]),
        (b"0.1,0.2,0.3", [0.1, 0.2, 0.3]),  # text/csv as the container answers in real time: one line
        (b'[0.1, 1e200, "", null, true, [1], {"score": "x"}]', [0.1, None, None, None, None, None, "x"]),
        (b"0.1\nNaN\n1e999\nabc\n1e200", [0.1, None, None, None, None]),  # unstorable rows only
    ],
)
def test_parse_predictions_reads_every_accepted_shape_in_row_order(body: bytes, expected: list[Any]) -> None:
    assert model.parse_predictions(body, len(expected)) == expected


@pytest.mark.parametrize("body", [b"0.5", b'{"predictions": [{"score": 0.5}]}', b"[0.5]", b"0.5\n", b'"label"'])
def test_parse_predictions_reads_a_single_row_answer(body: bytes) -> None:
    assert model.parse_predictions(body, 1) in ([0.5], ["label"])


@pytest.mark.parametrize(
    ("body", "rows", "message"),
    [
        (b"[0.1, 0.2]", 3, "model answered 2 predictions for 3 rows"),
        (b"[0.1, 0.2, 0.3, 0.4]", 3, "model answered 4 predictions for 3 rows"),
        (b'{"predictions": [{"score": 0.1}]}', 2, "model answered 1 predictions for 2 rows"),
        (b"0.7", 2, "model answered 1 predictions for 2 rows"),
        (b"0.1\n0.2", 3, "model answered 2 predictions for 3 rows"),
        (b"[]", 1, "model answered 0 predictions for 1 rows"),
        (b"\xff\xfe", 2, "unparseable model response"),
        (b'["\\ud800", 0.2]', 2, "unparseable model response"),  # a lone surrogate anywhere: no writer stores it
        (b'{"scores": [0.1, 0.2]}', 2, "unparseable model response"),
        (b"null", 1, "unparseable model response"),
        (b"true", 1, "unparseable model response"),
    ],
)
def test_parse_predictions_fails_the_whole_request_when_rows_cannot_be_matched(
    body: bytes, rows: int, message: str
) -> None:
    with pytest.raises(model.ModelInvocationError, match=message) as raised:
        model.parse_predictions(body, rows)
    assert raised.value.request_specific


# --- the chunking rule ------------------------------------------------------------------------------------------


def test_request_chunks_pack_rows_in_order_within_the_byte_limit() -> None:
    rows = ["aaaa", "bbbb", "cccc", "dddd", "ee"]
    # "aaaa\nbbbb" is 9 bytes: two rows fit in 9, three ("aaaa\nbbbb\ncccc") need 14.
    assert stream_consumer.request_chunks(rows, 9) == ([[0, 1], [2, 3], [4]], [])
    assert stream_consumer.request_chunks(rows, 14) == ([[0, 1, 2], [3, 4]], [])
    assert stream_consumer.request_chunks(rows, 4) == ([[0], [1], [2], [3], [4]], [])
    assert stream_consumer.request_chunks(rows, 3) == ([[4]], [0, 1, 2, 3])
    assert stream_consumer.request_chunks(["é"], 1) == ([], [0])  # bytes, not characters


def test_default_limit_keeps_a_margin_below_the_invoke_endpoint_payload_limit() -> None:
    assert stream_consumer.settings().max_request_bytes == model.MAX_BATCH_BYTES == 5 * 1024 * 1024
    assert model.MAX_BATCH_BYTES < 6 * 1024 * 1024


# --- the handler -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enabled")
def test_a_batch_of_100_records_takes_one_endpoint_call_and_four_writes(
    monkeypatch: pytest.MonkeyPatch,
    tables: Any,
    prediction_items: Items,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    endpoint = FakeEndpoint()
    monkeypatch.setattr(aws.client("sagemaker-runtime"), "invoke_endpoint", endpoint.invoke_endpoint)
    writes = CountingWrites(aws.client("dynamodb").batch_write_item)
    monkeypatch.setattr(aws.client("dynamodb"), "batch_write_item", writes.batch_write_item)

    result = stream_consumer.handler({"Records": _records(100)}, lambda_context)

    assert result == {"batchItemFailures": []}
    assert [len(rows) for rows, _ in endpoint.calls] == [100]
    assert endpoint.calls[0][0] == [_row(i) for i in range(100)]  # batch order
    assert writes.calls == [25, 25, 25, 25]
    items = prediction_items()
    assert len(items) == 100
    for i in range(100):
        item = items[f"req-{i}"]
        assert (item["status"], item["variant"], item["prediction"]) == ("completed", "A", Decimal(repr(i / 1000)))
    lines = stdout_json()
    [latency] = [doc for doc in emf_documents(lines) if "PredictionLatency" in doc]
    assert (latency["Variant"], len(latency["PredictionLatency"])) == ("A", 1)  # one latency per request
    [counts] = [doc for doc in emf_documents(lines) if "StreamRecordsProcessed" in doc]
    assert (counts["StreamRecordsProcessed"], counts["StreamRecordsFailed"]) == (100, 0)
    [done] = [line for line in log_lines(lines) if line["message"] == "batch done"]
    assert (done["endpoint_calls"], done["written"]) == (1, 100)


def test_each_record_gets_the_variant_of_the_request_that_carried_it(tables: Any, prediction_items: Items) -> None:
    endpoint = FakeEndpoint()
    cfg = _phase_two(max_request_bytes=3 * len(_row(0)) + 2)  # 3 rows of the shortest size per request

    result = stream_consumer.process_batch(_records(12), cfg, runtime=endpoint)

    assert result == {"batchItemFailures": []}
    assert len(endpoint.calls) > 3
    assert {variant for _, variant in endpoint.calls} == {"A", "B"}
    items = {item["features"][0]: item for item in prediction_items().values()}
    for rows, variant in endpoint.calls:
        assert len("\n".join(rows).encode()) <= cfg.max_request_bytes
        for row in rows:
            item = items[Decimal(row.split(",")[0])]
            assert item["variant"] == variant
            assert item["variant_shard"].startswith(f"{variant}#")
            assert item["prediction"] == Decimal(repr(_score(row)))


@pytest.mark.parametrize(("max_bytes", "sizes"), [(31, [2, 2, 2, 2, 2]), (30, [1] * 10), (47, [3, 3, 3, 1])])
def test_the_payload_limit_splits_the_batch_into_requests(
    max_bytes: int, sizes: list[int], tables: Any, prediction_items: Items
) -> None:
    # Every row is 15 bytes ("1.0,2.0,3.0,4.0"): n rows make a body of 15n + (n - 1) bytes.
    records = [kinesis_record(str(i), {"request_id": f"r{i}", "features": [i, 2, 3, 4]}) for i in range(10)]
    endpoint = FakeEndpoint()

    result = stream_consumer.process_batch(records, _phase_two(max_request_bytes=max_bytes), runtime=endpoint)

    assert result == {"batchItemFailures": []}
    assert [len(rows) for rows, _ in endpoint.calls] == sizes
    assert [row for rows, _ in endpoint.calls for row in rows] == [to_csv([float(i), 2.0, 3.0, 4.0]) for i in range(10)]
    assert len(prediction_items()) == 10


def test_a_row_larger_than_the_limit_is_reported_without_a_call(
    tables: Any, prediction_items: Items, stdout_json: Callable
) -> None:
    records = _records(4)
    records[2] = kinesis_record("2", {"request_id": "req-2", "features": [0.123456789012345, 0.123456789012345, 3, 4]})
    endpoint = FakeEndpoint()

    result = stream_consumer.process_batch(records, _phase_two(max_request_bytes=30), runtime=endpoint)

    assert _failures(result) == ["2"]
    assert all(_row(2) not in rows for rows, _ in endpoint.calls)
    assert set(prediction_items()) == {"req-0", "req-1", "req-3"}
    [warning] = [line for line in log_lines(stdout_json()) if line["message"] == "prediction failed"]
    assert (warning["request_id"], warning["reason"]) == ("req-2", "features exceed the 30-byte request limit")


def test_one_invalid_record_is_reported_and_the_rest_go_in_one_request(tables: Any, prediction_items: Items) -> None:
    records = _records(10)
    records[4] = kinesis_record("4", {"request_id": "req-4", "features": [1, 2, 3]})
    endpoint = FakeEndpoint()

    result = stream_consumer.process_batch(records, _phase_two(), runtime=endpoint)

    assert _failures(result) == ["4"]
    assert [rows for rows, _ in endpoint.calls] == [[_row(i) for i in range(10) if i != 4]]
    assert set(prediction_items()) == {f"req-{i}" for i in range(10) if i != 4}


@pytest.mark.parametrize(
    ("error", "budget"),
    [
        ("ThrottlingException", 32),
        ("ServiceUnavailable", 32),
        ("ValidationError", 32),
        ("AccessDeniedException", 32),
        ("ModelError", 0),
    ],
)
def test_a_failed_request_fails_its_records_and_the_other_requests_succeed(
    error: str, budget: int, tables: Any, prediction_items: Items
) -> None:
    # Requests of 2 rows; the second request fails. Throttling, an endpoint-state or configuration error or an
    # unexpected error is never split (a smaller request would fail the same way); a ModelError is, but not past the
    # split budget, 0 here.
    endpoint = FakeEndpoint(lambda call, rows: _client_error(error) if call == 1 else _scores(rows))
    cfg = _phase_two(max_request_bytes=2 * len(_row(9)) + 1, max_split_calls=budget)

    result = stream_consumer.process_batch(_records(8), cfg, runtime=endpoint)

    failed_rows = endpoint.calls[1][0]
    assert len(endpoint.calls) == 4
    assert _failures(result) == [str(i) for i in range(8) if _row(i) in failed_rows]
    assert set(prediction_items()) == {f"req-{i}" for i in range(8) if _row(i) not in failed_rows}


def test_a_model_error_is_split_until_the_poison_row_is_alone(tables: Any, prediction_items: Items) -> None:
    poison = _row(37)
    endpoint = FakeEndpoint(lambda _call, rows: _client_error("ModelError") if poison in rows else _scores(rows))

    result = stream_consumer.process_batch(_records(100), _phase_two(), runtime=endpoint)

    assert _failures(result) == ["37"]
    assert len(prediction_items()) == 99
    assert len(endpoint.calls) <= 1 + 2 * 7  # each halving level costs 2 calls; 100 rows need 7 levels
    assert [poison] in [rows for rows, _ in endpoint.calls]


def test_the_split_budget_bounds_the_calls_of_an_endpoint_that_fails_everything(tables: Any) -> None:
    endpoint = FakeEndpoint(lambda _call, _rows: _client_error("ModelError"))

    result = stream_consumer.process_batch(_records(100), _phase_two(max_split_calls=6), runtime=endpoint)

    assert len(result["batchItemFailures"]) == 100
    assert len(endpoint.calls) == 1 + 6


@pytest.mark.parametrize("extra", [-1, 1])
@pytest.mark.parametrize("budget", [0, 32])
def test_a_count_mismatch_fails_the_request_and_never_misattributes_a_score(
    extra: int, budget: int, tables: Any, prediction_items: Items
) -> None:
    def respond(call: int, rows: list[str]) -> bytes:
        scores = [_score(row) for row in rows]
        if call == 0:  # the first request is answered with one prediction too few (or too many)
            scores = scores[:-1] if extra < 0 else [*scores, 0.999]
        return json.dumps(scores).encode()

    endpoint = FakeEndpoint(respond)
    cfg = _phase_two(max_request_bytes=4 * len(_row(9)) + 3, max_split_calls=budget)

    result = stream_consumer.process_batch(_records(8), cfg, runtime=endpoint)

    first = endpoint.calls[0][0]
    items = prediction_items()
    for request_id, item in items.items():  # whatever was written carries its own row's score
        assert item["prediction"] == Decimal(repr(_score(_row(int(request_id.removeprefix("req-"))))))
    if budget:  # split in halves, answered right: everything is written
        assert result == {"batchItemFailures": []}
        assert len(items) == 8
    else:  # the whole first request fails, the second is written
        assert _failures(result) == [str(i) for i in range(8) if _row(i) in first]
        assert set(items) == {f"req-{i}" for i in range(8) if _row(i) not in first}


def test_an_endpoint_that_always_miscounts_writes_nothing(tables: Any, prediction_items: Items) -> None:
    endpoint = FakeEndpoint(lambda _call, rows: json.dumps([0.5] * (len(rows) + 1)).encode())

    result = stream_consumer.process_batch(_records(5), _phase_two(), runtime=endpoint)

    assert _failures(result) == [str(i) for i in range(5)]
    assert prediction_items() == {}


def test_phase_one_never_calls_the_endpoint(tables: Any, prediction_items: Items) -> None:
    endpoint = FakeEndpoint(lambda _call, _rows: AssertionError("phase one must not invoke the endpoint"))

    result = stream_consumer.process_batch(_records(30), stream_consumer.settings(), runtime=endpoint)

    assert result == {"batchItemFailures": []}
    assert endpoint.calls == []
    assert {item["status"] for item in prediction_items().values()} == {"queued"}


# --- property: every record written exactly once or reported, never both, never neither ---------------------------

_CALL_OUTCOMES = ("ok", "model_error", "throttled", "fewer", "more", "garbage", "bad_entry", "unexpected")
_WRITE_OUTCOMES = ("ok", "withhold_first", "throttled", "refused")


class _FakeTable:
    """BatchWriteItem stand-in following drawn outcomes; counts each item actually stored."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes, self.calls = outcomes, 0
        self.stored: Counter[str] = Counter()
        self.items: dict[str, dict[str, Any]] = {}

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        outcome = self.outcomes[self.calls] if self.calls < len(self.outcomes) else "ok"
        self.calls += 1
        if outcome == "throttled":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchWriteItem")
        if outcome == "refused":
            raise ClientError({"Error": {"Code": "ValidationException"}}, "BatchWriteItem")
        puts = request["RequestItems"][PREDICTIONS_TABLE]
        held = puts[:1] if outcome == "withhold_first" else []
        for put in puts[len(held) :]:
            item = put["PutRequest"]["Item"]
            self.stored[item["request_id"]["S"]] += 1
            self.items[item["request_id"]["S"]] = item
        return {"UnprocessedItems": {PREDICTIONS_TABLE: held} if held else {}}


def _drawn_answer(outcome: str, rows: list[str], position: int) -> bytes | Exception:
    scores: list[Any] = [_score(row) for row in rows]
    if outcome in ("model_error", "throttled", "unexpected"):
        code = {"model_error": "ModelError", "throttled": "ThrottlingException"}.get(outcome)
        return _client_error(code) if code else RuntimeError("boom")
    if outcome == "fewer":
        scores = scores[:-1]
    elif outcome == "more":
        scores.append(0.5)
    elif outcome == "garbage":
        return b"<html>oops</html>"
    elif outcome == "bad_entry":
        scores[position % len(scores)] = None
    return json.dumps({"predictions": [{"score": score} for score in scores]}).encode()


@st.composite
def _batch(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, str | None], dict[str, str]]:
    """(records, {sequence number: request_id, None for an invalid record}, {request_id: the CSV row its last valid
    record sends}); request ids may repeat."""
    records, request_of, row_of = [], {}, {}
    for index in range(draw(st.integers(1, 30))):
        seq = f"{index:04d}"
        kind = draw(st.sampled_from(["valid"] * 4 + ["duplicate", "bad_features", "bad_base64", "bad_id"]))
        request_id = f"req-{draw(st.integers(0, 3))}" if kind == "duplicate" else f"req-{index + 10}"
        features = [float(index), draw(st.floats(-1e6, 1e6)), 1.0, 2.0]
        payload: dict[str, Any] = {"request_id": request_id, "features": features}
        if kind == "bad_features":
            payload["features"] = features[:3]
        elif kind == "bad_id":
            payload["request_id"] = 7
        record = kinesis_record(seq, payload)
        if kind == "bad_base64":
            record["kinesis"]["data"] = "***"
        records.append(record)
        request_of[seq] = request_id if kind in ("valid", "duplicate") else None
        if kind in ("valid", "duplicate"):
            row_of[request_id] = to_csv(features)
    return records, request_of, row_of


@examples(100)
@given(
    batch=_batch(),
    calls=st.lists(st.tuples(st.sampled_from(_CALL_OUTCOMES), st.integers(0, 30)), max_size=40),
    writes=st.lists(st.sampled_from(_WRITE_OUTCOMES), max_size=6),
    max_bytes=st.integers(15, 200),
    budget=st.integers(0, 10),
    attempts=st.integers(1, 3),
)
def test_every_record_is_written_once_or_reported_never_both_never_neither(
    batch: tuple[list[dict[str, Any]], dict[str, str | None], dict[str, str]],
    calls: list[tuple[str, int]],
    writes: list[str],
    max_bytes: int,
    budget: int,
    attempts: int,
) -> None:
    records, request_of, row_of = batch

    def respond(call: int, rows: list[str]) -> bytes | Exception:
        outcome, position = calls[call] if call < len(calls) else ("ok", 0)
        return _drawn_answer(outcome, rows, position)

    endpoint, table = FakeEndpoint(respond), _FakeTable(writes)
    cfg = _phase_two(max_request_bytes=max_bytes, max_split_calls=budget, write_attempts=attempts)

    result = stream_consumer.process_batch(records, cfg, runtime=endpoint, ddb=table, sleep=lambda _s: None)

    reported = _failures(result)
    assert len(reported) == len(set(reported))
    assert set(reported) <= set(request_of)
    assert all(count == 1 for count in table.stored.values())  # nothing stored twice
    for seq, request_id in request_of.items():
        written = request_id is not None and table.stored[request_id] == 1
        assert written != (seq in reported), (seq, request_id)
    # Never a score or a variant of another row: each item holds its own row's score and the variant of the last
    # call that answered its row.
    answered = {row: variant for rows, variant in endpoint.calls for row in rows}
    for request_id, item in table.items.items():
        row = row_of[request_id]
        assert float(item["prediction"]["N"]) == pytest.approx(_score(row))
        assert item["variant"]["S"] == answered[row]


def test_the_benchmark_meets_its_targets() -> None:
    figures = stream_figures(runs=1)

    assert figures["met"], figures["missed"]
    assert figures["new"]["endpoint_calls"] <= 2
    assert figures["new"]["batch_write_calls"] <= 4
    assert figures["old"]["endpoint_calls"] == 100
    assert figures["speedup"] >= 20
