"""stream_consumer: partial batch failures, queued vs predicted items, BatchWriteItem retries, idempotency."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import stream_consumer
from botocore.stub import Stubber
from mlp_common import aws

from tests.handlers.fakes import (
    ENDPOINT_NAME,
    PREDICTIONS_TABLE,
    STREAM_NAME,
    FakeLambdaContext,
    emf_documents,
    kinesis_record,
    log_lines,
    model_answer,
)

Items = Callable[[], dict[str, dict[str, Any]]]


def _features(i: int) -> list[float]:
    return [i, i + 0.5, -i, 1]


def _stream_event(kinesis: Any, payloads: list[bytes]) -> dict[str, Any]:
    """Put payloads on the (moto) stream and read them back as a Lambda event source batch."""
    for payload in payloads:
        kinesis.put_record(StreamName=STREAM_NAME, Data=payload, PartitionKey="pk")
    shard_id = kinesis.describe_stream(StreamName=STREAM_NAME)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=STREAM_NAME, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert len(records) == len(payloads)
    return {"Records": [kinesis_record(r["SequenceNumber"], r["Data"], shard=shard_id) for r in records]}


def _failures(result: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def _sequences(event: dict[str, Any]) -> list[str]:
    return [record["kinesis"]["sequenceNumber"] for record in event["Records"]]


def _answer(score: float, variant: str) -> dict[str, Any]:
    return model_answer(json.dumps({"predictions": [{"score": score}]}).encode(), variant)


# --- phase one: queue ------------------------------------------------------------------------------------------


def test_phase_one_queues_every_valid_record(
    kinesis: Any, prediction_items: Items, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    payloads = [json.dumps({"request_id": f"req-{i}", "features": _features(i)}).encode() for i in range(3)]
    event = _stream_event(kinesis, payloads)

    result = stream_consumer.handler(event, lambda_context)

    assert result == {"batchItemFailures": []}
    items = prediction_items()
    assert set(items) == {"req-0", "req-1", "req-2"}
    for i in range(3):
        item = items[f"req-{i}"]
        assert item["status"] == "queued"
        assert item["variant"] == "none"
        assert item["source"] == "stream"
        assert item["features"] == [Decimal(str(float(x))) for x in _features(i)]
        assert "prediction" not in item
    emf = emf_documents(stdout_json())
    assert emf[0]["StreamRecordsProcessed"] == 3
    assert emf[0]["StreamRecordsFailed"] == 0


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (b"\xff\xfe not json", "data is not valid UTF-8 JSON"),
        (b"[1, 2, 3, 4]", "data is not a JSON object"),
        (json.dumps({"features": [1, 2, 3]}).encode(), "features must be a list of 4 numbers"),
        (json.dumps({"features": [1, 2, 3, "x"]}).encode(), "features[3] must be a number"),
        (b'{"features": [1, 2, 3, NaN]}', "data is not valid UTF-8 JSON"),
        (json.dumps({"request_id": 7, "features": [1, 2, 3, 4]}).encode(), "request_id must be a non-empty string"),
        (json.dumps({"request_id": "x" * 129, "features": [1, 2, 3, 4]}).encode(), "request_id must be a non-empty"),
    ],
)
def test_poison_record_is_reported_alone_and_the_rest_is_written(
    poison: bytes,
    reason: str,
    kinesis: Any,
    prediction_items: Items,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    payloads = [json.dumps({"request_id": f"req-{i}", "features": _features(i)}).encode() for i in range(5)]
    payloads[2] = poison
    event = _stream_event(kinesis, payloads)

    result = stream_consumer.handler(event, lambda_context)

    poison_seq = _sequences(event)[2]
    assert _failures(result) == [poison_seq]
    assert set(prediction_items()) == {"req-0", "req-1", "req-3", "req-4"}
    warnings = [line for line in log_lines(stdout_json()) if line["message"] == "invalid stream record"]
    assert len(warnings) == 1
    assert warnings[0]["sequence_number"] == poison_seq
    assert warnings[0]["reason"].startswith(reason)


def test_invalid_base64_is_reported(tables: Any, lambda_context: FakeLambdaContext) -> None:
    good = kinesis_record("1", {"request_id": "ok", "features": [1, 2, 3, 4]})
    bad = kinesis_record("2", b"")
    bad["kinesis"]["data"] = "***not base64***"
    result = stream_consumer.handler({"Records": [good, bad]}, lambda_context)
    assert _failures(result) == ["2"]


def test_default_request_id_is_deterministic_so_replays_overwrite(
    kinesis: Any, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    event = _stream_event(kinesis, [json.dumps({"features": [1, 2, 3, 4]}).encode()])

    assert stream_consumer.handler(event, lambda_context) == {"batchItemFailures": []}
    first = prediction_items()
    assert stream_consumer.handler(event, lambda_context) == {"batchItemFailures": []}  # the replay
    second = prediction_items()

    assert len(first) == len(second) == 1
    assert set(first) == set(second) == {stream_consumer.default_request_id(event["Records"][0])}
    other_shard = kinesis_record(_sequences(event)[0], b"{}", shard="shardId-000000000001")
    assert stream_consumer.default_request_id(other_shard) not in first


def test_duplicate_request_ids_in_one_batch_keep_the_last_record(
    tables: Any, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    records = [
        kinesis_record("1", {"request_id": "dup", "features": [1, 1, 1, 1]}),
        kinesis_record("2", {"request_id": "other", "features": [2, 2, 2, 2]}),
        kinesis_record("3", {"request_id": "dup", "features": [3, 3, 3, 3]}),
    ]
    result = stream_consumer.handler({"Records": records}, lambda_context)
    assert result == {"batchItemFailures": []}
    assert prediction_items()["dup"]["features"] == [Decimal("3")] * 4


# --- phase two: predict ----------------------------------------------------------------------------------------


def _csv(i: int) -> str:
    return ",".join(repr(float(x)) for x in _features(i))


def _expect(runtime: Stubber, rows: list[int], answer: dict[str, Any] | str) -> None:
    """Queue the answer to one InvokeEndpoint call carrying `rows` (a ModelError when `answer` is "ModelError")."""
    body = "\n".join(_csv(i) for i in rows)
    expected = {"EndpointName": ENDPOINT_NAME, "ContentType": "text/csv", "Accept": "application/json", "Body": body}
    if answer == "ModelError":
        runtime.add_client_error("invoke_endpoint", "ModelError", "model crashed", 424, expected_params=expected)
    else:
        assert isinstance(answer, dict)
        runtime.add_response("invoke_endpoint", answer, expected)


@pytest.mark.usefixtures("enabled")
def test_phase_two_isolates_the_row_that_crashes_the_model(
    tables: Any, runtime: Stubber, prediction_items: Items, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(3)]
    # One request for the batch; the model crashes on row 1, so the failed request is split in halves until row 1 is
    # alone: [0, 1, 2] → [0] + [1, 2] → [1] + [2].
    _expect(runtime, [0, 1, 2], "ModelError")
    _expect(runtime, [0], _answer(0.9, "A"))
    _expect(runtime, [1, 2], "ModelError")
    _expect(runtime, [1], "ModelError")
    _expect(runtime, [2], _answer(0.1, "B"))

    result = stream_consumer.handler({"Records": records}, lambda_context)

    assert _failures(result) == ["1"]
    items = prediction_items()
    assert set(items) == {"req-0", "req-2"}
    assert (items["req-0"]["variant"], items["req-0"]["prediction"], items["req-0"]["status"]) == (
        "A",
        Decimal("0.9"),
        "completed",
    )
    assert items["req-2"]["variant"] == "B"
    assert "latency_ms" in items["req-2"]
    lines = stdout_json()
    latency = [doc for doc in emf_documents(lines) if "PredictionLatency" in doc]
    assert {doc["Variant"]: len(doc["PredictionLatency"]) for doc in latency} == {"A": 1, "B": 1}
    [done] = [line for line in log_lines(lines) if line["message"] == "batch done"]
    assert done["endpoint_calls"] == 5


@pytest.mark.usefixtures("enabled")
def test_phase_two_predicts_the_whole_batch_in_one_request(
    tables: Any, runtime: Stubber, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(3)]
    _expect(runtime, [0, 1, 2], model_answer(b'{"predictions": [{"score": 0.1}, {"score": 0.2}, {"score": 0.3}]}', "B"))

    assert stream_consumer.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}

    items = prediction_items()
    assert [(items[f"req-{i}"]["prediction"], items[f"req-{i}"]["variant"]) for i in range(3)] == [
        (Decimal("0.1"), "B"),
        (Decimal("0.2"), "B"),
        (Decimal("0.3"), "B"),
    ]


# --- BatchWriteItem: chunks, retries, persistent failures ------------------------------------------------------


class _FlakyWrites:
    """Wraps moto's batch_write_item: withholds chosen items (returned as UnprocessedItems) and writes the rest."""

    def __init__(self, real: Callable[..., Any], withhold: Callable[[int, str], bool]) -> None:
        self.real, self.withhold, self.calls = real, withhold, []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        requests = kwargs["RequestItems"][PREDICTIONS_TABLE]
        self.calls.append([r["PutRequest"]["Item"]["request_id"]["S"] for r in requests])
        held = [r for r in requests if self.withhold(len(self.calls), r["PutRequest"]["Item"]["request_id"]["S"])]
        passed = [r for r in requests if r not in held]
        if passed:
            self.real(RequestItems={PREDICTIONS_TABLE: passed})
        return {"UnprocessedItems": {PREDICTIONS_TABLE: held} if held else {}}


def _install(monkeypatch: pytest.MonkeyPatch, withhold: Callable[[int, str], bool]) -> _FlakyWrites:
    client = aws.client("dynamodb")
    flaky = _FlakyWrites(client.batch_write_item, withhold)
    monkeypatch.setattr(client, "batch_write_item", flaky)
    return flaky


def test_unprocessed_items_are_retried_until_written(
    monkeypatch: pytest.MonkeyPatch, tables: Any, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    flaky = _install(monkeypatch, lambda call, request_id: call == 1 and request_id in {"req-1", "req-3"})
    delays: list[float] = []
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(5)]

    result = stream_consumer.process_batch(records, stream_consumer.settings(), sleep=delays.append)

    assert result == {"batchItemFailures": []}
    assert flaky.calls == [[f"req-{i}" for i in range(5)], ["req-1", "req-3"]]
    assert set(prediction_items()) == {f"req-{i}" for i in range(5)}
    assert len(delays) == 1


def test_persistently_unprocessed_item_is_reported_after_bounded_attempts(
    monkeypatch: pytest.MonkeyPatch,
    tables: Any,
    prediction_items: Items,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    monkeypatch.setenv("BATCH_WRITE_MAX_ATTEMPTS", "4")
    flaky = _install(monkeypatch, lambda _call, request_id: request_id == "stuck")
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(4)]
    records.insert(2, kinesis_record("99", {"request_id": "stuck", "features": [1, 2, 3, 4]}))

    result = stream_consumer.handler({"Records": records}, lambda_context)

    assert _failures(result) == ["99"]
    assert len(flaky.calls) == 4
    assert flaky.calls[1:] == [["stuck"]] * 3
    assert set(prediction_items()) == {f"req-{i}" for i in range(4)}
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors[0]["request_id"] == "stuck"
    assert errors[0]["reason"] == "unprocessed after retries"


def test_writes_are_chunked_by_25(monkeypatch: pytest.MonkeyPatch, tables: Any, prediction_items: Items) -> None:
    flaky = _install(monkeypatch, lambda _call, _request_id: False)
    records = [kinesis_record(str(i), {"request_id": f"req-{i:02d}", "features": _features(i)}) for i in range(60)]

    result = stream_consumer.process_batch(records, stream_consumer.settings())

    assert result == {"batchItemFailures": []}
    assert [len(call) for call in flaky.calls] == [25, 25, 10]
    assert len(prediction_items()) == 60


def test_missing_table_reports_every_record_instead_of_crashing(
    mocked_aws: None, lambda_context: FakeLambdaContext
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(3)]
    result = stream_consumer.handler({"Records": records}, lambda_context)
    assert _failures(result) == ["0", "1", "2"]


# --- lone surrogates, bad model answers, malformed envelopes ---------------------------------------------------

_SURROGATE_PAYLOADS = [
    b'{"request_id": "\\ud800", "features": [1, 2, 3, 4]}',  # escaped lone high surrogate in the kept key
    b'{"request_id": "ok-x", "features": [1, 2, 3, 4], "note": "\\udfff"}',  # lone low surrogate in a dropped key
    b'{"request_id": "\xed\xa0\x80", "features": [1, 2, 3, 4]}',  # the surrogate's UTF-8-style bytes, unescaped
]


@pytest.mark.parametrize("poison", _SURROGATE_PAYLOADS)
def test_lone_surrogate_record_is_reported_alone_and_the_rest_is_written(
    poison: bytes, tables: Any, prediction_items: Items, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(4)]
    records.insert(2, kinesis_record("77", poison))

    result = stream_consumer.handler({"Records": records}, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "77"}]}
    assert set(prediction_items()) == {"req-0", "req-1", "req-2", "req-3"}
    lines = stdout_json()
    warnings = [line for line in log_lines(lines) if line["message"] == "invalid stream record"]
    assert [(w["sequence_number"], w["reason"]) for w in warnings] == [
        ("77", "data holds a lone surrogate (not valid Unicode)")
    ]
    [counts] = [doc for doc in emf_documents(lines) if "StreamRecordsProcessed" in doc]
    assert (counts["StreamRecordsProcessed"], counts["StreamRecordsFailed"]) == (4, 1)


@pytest.mark.parametrize(
    "answer",
    [b'"\\ud800"', b'{"predictions": [{"score": "\\udc00"}]}', b"1e200", b"1" + b"0" * 400, b'"\xed\xa0\x80"'],
)
@pytest.mark.usefixtures("enabled")
def test_unstorable_model_answer_fails_only_its_record(
    answer: bytes, tables: Any, runtime: Stubber, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(3)]
    # Every request holding row 1 gets the unusable answer (unreadable, or one value for several rows): the request is
    # split until row 1 is alone, and only its record fails.
    _expect(runtime, [0, 1, 2], model_answer(answer, "A"))
    _expect(runtime, [0], _answer(0.9, "A"))
    _expect(runtime, [1, 2], model_answer(answer, "A"))
    _expect(runtime, [1], model_answer(answer, "A"))
    _expect(runtime, [2], _answer(0.1, "B"))

    result = stream_consumer.handler({"Records": records}, lambda_context)

    # Before: a surrogate label crashed the whole batch's write; a number DynamoDB cannot store (or an int too large
    # for a float) failed the whole 25-item chunk or the batch.
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    items = prediction_items()
    assert set(items) == {"req-0", "req-2"}
    assert (items["req-0"]["prediction"], items["req-2"]["prediction"]) == (Decimal("0.9"), Decimal("0.1"))


@pytest.mark.parametrize("entry", [1e200, 10**400, "x" * 1025, "", None, True, [0.5]])
@pytest.mark.usefixtures("enabled")
def test_unstorable_entry_of_a_batch_answer_fails_only_its_record(
    entry: Any, tables: Any, runtime: Stubber, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": _features(i)}) for i in range(3)]
    body = json.dumps({"predictions": [{"score": 0.9}, {"score": entry}, {"score": 0.1}]}).encode()
    _expect(runtime, [0, 1, 2], model_answer(body, "A"))  # one call: the answer's count matches, so row 1 is known

    result = stream_consumer.handler({"Records": records}, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    items = prediction_items()
    assert (items["req-0"]["prediction"], items["req-2"]["prediction"]) == (Decimal("0.9"), Decimal("0.1"))
    assert "req-1" not in items


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"data": 12345}, "data is not valid base64"),
        ({"data": None}, "data is not valid base64"),
        ({"data": ["eyJ9"]}, "data is not valid base64"),
    ],
)
def test_wrongly_typed_record_parts_are_reported_alone(
    envelope: dict[str, Any],
    reason: str,
    tables: Any,
    prediction_items: Items,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    bad = kinesis_record("9", b"")
    bad["kinesis"].update(envelope)
    good = kinesis_record("1", {"request_id": "ok", "features": [1, 2, 3, 4]})

    result = stream_consumer.handler({"Records": [good, bad]}, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "9"}]}
    assert set(prediction_items()) == {"ok"}
    [warning] = [line for line in log_lines(stdout_json()) if line["message"] == "invalid stream record"]
    assert warning["reason"] == reason


@pytest.mark.parametrize("event", [{"Records": "x"}, {"Records": {"0": {}}}, [], "x", None])
def test_event_that_is_not_a_batch_processes_nothing_and_says_so(
    event: Any, tables: Any, prediction_items: Items, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    assert stream_consumer.handler(event, lambda_context) == {"batchItemFailures": []}
    assert prediction_items() == {}
    errors = [line["message"] for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors == ["event is not a Kinesis batch; nothing processed"]


def test_record_that_is_not_an_object_is_reported_without_losing_the_others(
    tables: Any, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    no_kinesis = {"eventID": "shardId-000000000000:5", "kinesis": "x"}
    good = kinesis_record("1", {"request_id": "ok", "features": [1, 2, 3, 4]})

    result = stream_consumer.handler({"Records": [good, "junk", no_kinesis]}, lambda_context)

    # Neither has a sequence number to report: "" tells Lambda to retry the batch, so nothing is lost silently.
    assert result == {"batchItemFailures": [{"itemIdentifier": ""}]}
    assert set(prediction_items()) == {"ok"}
