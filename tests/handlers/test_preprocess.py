"""preprocess: validation, normalisation, rejected rows, drift metric, event shapes, size cap, AWS errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import preprocess
import pytest
from botocore.exceptions import ClientError
from mlp_common import aws

from tests.handlers.fakes import (
    ARTIFACTS_BUCKET,
    PROCESSED_BUCKET,
    RAW_BUCKET,
    FakeLambdaContext,
    emf_documents,
    log_lines,
)

LONG_ID = "z" * 2000
ROWS = [
    json.dumps({"id": "a", "features": [1, 2, 3, 4], "extra": "dropped"}),  # line 1
    "not json",  # line 2
    "",  # line 3: blank, skipped
    json.dumps({"id": "", "features": [1, 2, 3, 4]}),  # line 4
    json.dumps({"id": "c", "features": [1, 2, 3]}),  # line 5
    json.dumps({"id": "d", "features": [1, 2, True, 4]}),  # line 6
    "[1, 2]",  # line 7
    json.dumps({"id": "b", "features": [5, 6, 5, 8]}),  # line 8
    json.dumps({"id": LONG_ID, "features": [1, 2, 3, 4]}),  # line 9: id too long, raw > 1 KiB
    '{"id": "e", "features": [1, 2, 3, Infinity]}',  # line 10
]
BASELINE = {"means": [1, 2, 3, 4], "stds": [1, 2, 0, 4]}


def _eventbridge(key: str, bucket: str = RAW_BUCKET) -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 1},
            "reason": "PutObject",
        },
    }


def _read_lines(s3: Any, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=PROCESSED_BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def _put_raw(s3: Any, key: str, rows: list[str]) -> None:
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=("\n".join(rows) + "\n").encode())


def test_valid_rows_are_normalised_and_malformed_rows_rejected_with_reasons(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="baseline/feature_stats.json", Body=json.dumps(BASELINE).encode())
    _put_raw(s3, "incoming/2026/batch.jsonl", ROWS)

    summary = preprocess.handler(_eventbridge("incoming/2026/batch.jsonl"), lambda_context)

    assert summary == {
        "bucket": RAW_BUCKET,
        "key": "incoming/2026/batch.jsonl",
        "processed": 2,
        "rejected": 7,
        "training_rows": 0,
        "validation_rows": 0,
        "drift": 2.0,
        "status": "ok",
    }
    # z-score per feature; the std-0 feature (index 2) is kept as-is.
    assert _read_lines(s3, "processed/incoming/2026/batch.jsonl") == [
        {"id": "a", "features": [0.0, 0.0, 3.0, 0.0]},
        {"id": "b", "features": [4.0, 2.0, 5.0, 1.0]},
    ]
    rejected = _read_lines(s3, "rejected/incoming/2026/batch.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (2, "line is not valid JSON"),
        (4, "id must be a non-empty string of at most 128 characters"),
        (5, "features must be a list of 4 numbers"),
        (6, "features[2] must be a number"),
        (7, "line is not a JSON object"),
        (9, "id must be a non-empty string of at most 128 characters"),
        (10, "line is not valid JSON"),
    ]
    assert rejected[0]["raw"] == "not json"
    assert len(rejected[5]["raw"].encode()) == 1024
    assert ROWS[8].startswith(rejected[5]["raw"])

    [emf] = emf_documents(stdout_json())
    assert (emf["RecordsProcessed"], emf["RecordsRejected"], emf["DataDrift"]) == (2, 7, 2.0)
    assert emf["Environment"] == "test"
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "RecordsProcessed", "Unit": "Count"},
        {"Name": "RecordsRejected", "Unit": "Count"},
        {"Name": "DataDrift", "Unit": "None"},
    ]


def test_without_baseline_features_pass_as_is_and_drift_is_skipped(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _put_raw(s3, "batch.jsonl", [json.dumps({"id": "a", "features": [1, 2.5, -3, 4]})])

    summary = preprocess.handler(_eventbridge("batch.jsonl"), lambda_context)

    assert (summary["processed"], summary["rejected"], summary["drift"]) == (1, 0, None)
    assert _read_lines(s3, "processed/batch.jsonl") == [{"id": "a", "features": [1.0, 2.5, -3.0, 4.0]}]
    assert _read_lines(s3, "rejected/batch.jsonl") == []
    lines = stdout_json()
    assert any(line.get("message") == "baseline not found; data drift skipped" for line in log_lines(lines))
    [emf] = emf_documents(lines)
    assert "DataDrift" not in emf


def test_baseline_key_is_configurable_and_a_broken_baseline_is_ignored(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    monkeypatch.setenv("BASELINE_KEY", "stats/v2.json")
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="stats/v2.json", Body=b'{"means": [1, 2], "stds": [1, 1]}')
    _put_raw(s3, "batch.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])

    summary = preprocess.handler(_eventbridge("batch.jsonl"), lambda_context)

    assert summary["drift"] is None
    assert _read_lines(s3, "processed/batch.jsonl") == [{"id": "a", "features": [1.0, 2.0, 3.0, 4.0]}]
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors[0]["message"] == "baseline unusable; data drift skipped"
    assert errors[0]["key"] == "stats/v2.json"


def test_unreadable_baseline_does_not_stop_processing(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _put_raw(s3, "batch.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])
    client = aws.client("s3")
    real_get = client.get_object

    def get_object(**kwargs: Any) -> Any:
        if kwargs["Bucket"] == ARTIFACTS_BUCKET:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return real_get(**kwargs)

    monkeypatch.setattr(client, "get_object", get_object)

    summary = preprocess.handler(_eventbridge("batch.jsonl"), lambda_context)

    assert (summary["status"], summary["processed"], summary["drift"]) == ("ok", 1, None)
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors[0]["message"].startswith("baseline not readable")


def test_other_baseline_errors_propagate(monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: Any) -> None:
    _put_raw(s3, "batch.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])
    monkeypatch.setenv("MODEL_ARTIFACTS_BUCKET", "mlp-no-such-artifacts-bucket")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        preprocess.handler(_eventbridge("batch.jsonl"), lambda_context)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0


def test_s3_notification_event_with_url_encoded_key(s3: Any, lambda_context: FakeLambdaContext) -> None:
    _put_raw(s3, "my dir/a+b.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])
    event = {
        "Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": RAW_BUCKET}, "object": {"key": "my+dir/a%2Bb.jsonl"}}}
        ]
    }

    summary = preprocess.handler(event, lambda_context)

    assert summary["key"] == "my dir/a+b.jsonl"
    assert summary["processed"] == 1
    assert _read_lines(s3, "processed/my dir/a+b.jsonl") == [{"id": "a", "features": [1.0, 2.0, 3.0, 4.0]}]


def test_eventbridge_key_keeps_literal_plus(s3: Any, lambda_context: FakeLambdaContext) -> None:
    _put_raw(s3, "a+b c.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])
    summary = preprocess.handler(_eventbridge("a+b%20c.jsonl"), lambda_context)
    assert (summary["key"], summary["processed"]) == ("a+b c.jsonl", 1)


def test_object_over_the_size_cap_is_refused_without_writing(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "100")
    _put_raw(s3, "big.jsonl", [json.dumps({"id": f"r{i}", "features": [1, 2, 3, 4]}) for i in range(10)])

    summary = preprocess.handler(_eventbridge("big.jsonl"), lambda_context)

    assert summary["status"] == "failed"
    assert summary["reason"].endswith("limit is 100")
    assert (summary["processed"], summary["rejected"]) == (0, 0)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0
    lines = stdout_json()
    assert [line["message"] for line in log_lines(lines) if line["level"] == "ERROR"] == ["object refused"]
    assert emf_documents(lines)[0]["ObjectsRefused"] == 1


def test_missing_object_is_a_reported_failure(s3: Any, lambda_context: FakeLambdaContext) -> None:
    summary = preprocess.handler(_eventbridge("gone.jsonl"), lambda_context)
    assert (summary["status"], summary["reason"]) == ("failed", "object not found")


def test_refuses_to_process_its_own_output_bucket(s3: Any, lambda_context: FakeLambdaContext) -> None:
    s3.put_object(Bucket=PROCESSED_BUCKET, Key="x.jsonl", Body=b"{}\n")
    summary = preprocess.handler(_eventbridge("x.jsonl", bucket=PROCESSED_BUCKET), lambda_context)
    assert summary["status"] == "failed"
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 1


def test_unwritable_processed_bucket_raises_for_the_async_retry(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("PROCESSED_BUCKET", "mlp-bucket-that-does-not-exist")
    _put_raw(s3, "batch.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])
    with pytest.raises(ClientError, match="NoSuchBucket"):
        preprocess.handler(_eventbridge("batch.jsonl"), lambda_context)


def test_crlf_bom_and_utf8_errors(s3: Any, lambda_context: FakeLambdaContext) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"id": "a", "features": [1, 2, 3, 4]}).encode() + b"\r\n\xff\xfe\r\n"
    s3.put_object(Bucket=RAW_BUCKET, Key="crlf.jsonl", Body=body)

    summary = preprocess.handler(_eventbridge("crlf.jsonl"), lambda_context)

    assert (summary["processed"], summary["rejected"]) == (1, 1)
    assert _read_lines(s3, "rejected/crlf.jsonl") == [
        {"line": 2, "reason": "line is not valid UTF-8", "raw": "\ufffd\ufffd"}
    ]


def test_event_without_object_is_an_error(lambda_context: FakeLambdaContext) -> None:
    with pytest.raises(ValueError, match="no S3 object"):
        preprocess.handler({"Records": []}, lambda_context)


# --- lone surrogates, degenerate baselines, malformed events ---------------------------------------------------


def _strict_lines(s3: Any, key: str) -> list[dict[str, Any]]:
    """The file's rows, parsed as strict JSON (NaN/Infinity raise) and as strict UTF-8."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} written to {key}")

    body = s3.get_object(Bucket=PROCESSED_BUCKET, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line, parse_constant=refuse) for line in body.splitlines()]


def test_lone_surrogate_row_is_rejected_and_the_good_rows_are_written(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    rows = [
        json.dumps({"id": "a", "features": [1, 2, 3, 4]}),
        '{"id": "\\ud800", "features": [1, 2, 3, 4]}',  # the id would be written: no UTF-8 encoder can
        json.dumps({"id": "b", "features": [5, 6, 7, 8]}),
        '{"id": "c", "features": [1, 2, 3, 4], "note": "\\udfff"}',  # in a dropped key: refused all the same
        '{"id": "d\xed\xa0\x80", "features": [1, 2, 3, 4]}',  # the surrogate's bytes: not UTF-8
    ]
    s3.put_object(
        Bucket=RAW_BUCKET, Key="s.jsonl", Body="\n".join(rows[:4]).encode() + b"\n" + rows[4].encode("latin-1")
    )

    summary = preprocess.handler(_eventbridge("s.jsonl"), lambda_context)

    assert summary == {
        "bucket": RAW_BUCKET,
        "key": "s.jsonl",
        "processed": 2,
        "rejected": 3,
        "training_rows": 0,
        "validation_rows": 0,
        "drift": None,
        "status": "ok",
    }
    assert _strict_lines(s3, "processed/s.jsonl") == [
        {"id": "a", "features": [1.0, 2.0, 3.0, 4.0]},
        {"id": "b", "features": [5.0, 6.0, 7.0, 8.0]},
    ]
    assert _strict_lines(s3, "rejected/s.jsonl") == [
        {"line": 2, "reason": "line holds a lone surrogate (not valid Unicode)", "raw": rows[1]},
        {"line": 4, "reason": "line holds a lone surrogate (not valid Unicode)", "raw": rows[3]},
        {
            "line": 5,
            "reason": "line is not valid UTF-8",
            "raw": '{"id": "d\ufffd\ufffd\ufffd", "features": [1, 2, 3, 4]}',
        },
    ]
    [emf] = emf_documents(stdout_json())
    assert (emf["RecordsProcessed"], emf["RecordsRejected"]) == (2, 3)


def test_row_that_z_scores_to_infinity_is_rejected_not_written_as_infinity(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    # A std of 1e-300 is a valid baseline value, but 1e10 / 1e-300 overflows to Infinity.
    baseline = {"means": [0, 0, 0, 0], "stds": [1e-300, 1, 0, 2]}
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="baseline/feature_stats.json", Body=json.dumps(baseline).encode())
    rows = [
        json.dumps({"id": "a", "features": [0, 2, 3, 4]}),
        json.dumps({"id": "big", "features": [1e10, 2, 3, 4]}),
        "oops",
        json.dumps({"id": "neg", "features": [-1e100, 2, 3, 4]}),
        json.dumps({"id": "b", "features": [0, 4, -3, 8]}),
    ]
    _put_raw(s3, "inf.jsonl", rows)

    summary = preprocess.handler(_eventbridge("inf.jsonl"), lambda_context)

    assert (summary["processed"], summary["rejected"], summary["status"]) == (2, 3, "ok")
    assert _strict_lines(s3, "processed/inf.jsonl") == [
        {"id": "a", "features": [0.0, 2.0, 3.0, 2.0]},
        {"id": "b", "features": [0.0, 4.0, -3.0, 4.0]},
    ]
    reason = "features[0] is not finite once z-scored against the baseline"
    assert _strict_lines(s3, "rejected/inf.jsonl") == [
        {"line": 2, "reason": reason, "raw": rows[1]},
        {"line": 3, "reason": "line is not valid JSON", "raw": "oops"},
        {"line": 4, "reason": reason, "raw": rows[3]},
    ]
    # Drift is measured on the raw values of every valid row; its own overflow means "no drift figure", not Infinity.
    assert summary["drift"] is None
    [emf] = emf_documents(stdout_json())
    assert (emf["RecordsProcessed"], emf["RecordsRejected"]) == (2, 3)
    assert "DataDrift" not in emf


@pytest.mark.parametrize(
    "baseline",
    [
        b'{"means": [NaN, 0, 0, 0], "stds": [1, 1, 1, 1]}',
        b'{"means": [0, 0, 0, 0], "stds": [Infinity, 1, 1, 1]}',
        b'{"means": [1e400, 0, 0, 0], "stds": [1, 1, 1, 1]}',
        b'{"means": [0, 0, 0, 0], "stds": [-1, 1, 1, 1]}',
        b'{"means": [0, 0, 0, 0], "stds": [1, 1, 1, 1], "note": "\\ud800"}',
    ],
)
def test_non_finite_baseline_is_ignored_and_rows_pass_as_is(
    baseline: bytes, s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="baseline/feature_stats.json", Body=baseline)
    _put_raw(s3, "nf.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])

    summary = preprocess.handler(_eventbridge("nf.jsonl"), lambda_context)

    assert (summary["processed"], summary["rejected"], summary["drift"]) == (1, 0, None)
    assert _strict_lines(s3, "processed/nf.jsonl") == [{"id": "a", "features": [1.0, 2.0, 3.0, 4.0]}]
    errors = [line["message"] for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors == ["baseline unusable; data drift skipped"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event carries no S3 object reference (not an object)"),
        ({"Records": "x"}, "event carries no S3 object reference (Records is not a list)"),
        ({"Records": ["x"]}, "event carries no S3 object reference (Records[0].s3: bucket.name and object.key must"),
        ({"detail": {"bucket": [], "object": {"key": "k"}}}, "event carries no S3 object reference (detail: bucket"),
        ({"detail": {"bucket": {"name": "b"}, "object": {"key": 7}}}, "event carries no S3 object reference (detail"),
        ({"Records": [{"s3": {"bucket": {"name": None}, "object": {"key": "k"}}}]}, "event carries no S3 object"),
    ],
)
def test_malformed_event_raises_a_clear_error_and_writes_nothing(
    event: Any, message: str, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(preprocess.EventError) as raised:
        preprocess.handler(event, lambda_context)
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, ValueError)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0


# --- training CSVs (SageMaker built-in XGBoost: headerless, label first) -----------------------------------------


def _csv_lines(s3: Any, key: str) -> list[str]:
    body = s3.get_object(Bucket=PROCESSED_BUCKET, Key=key)["Body"].read().decode("ascii")
    assert body == "" or body.endswith("\n")
    return body.split("\n")[:-1]


def test_labelled_rows_become_train_and_validation_csv_split_by_id(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="baseline/feature_stats.json", Body=json.dumps(BASELINE).encode())
    rows = [
        json.dumps({"id": "a", "features": [1, 2, 3, 4], "label": 1}),  # line 1: train (shard 50)
        json.dumps({"id": "r9", "features": [2, 4, 3, 8], "label": 0.25}),  # line 2: validation (shard 3)
        json.dumps({"id": "b", "features": [5, 6, 5, 8]}),  # line 3: no label → processed/ only
        json.dumps({"id": "c", "features": [1, 2, 3, 4], "label": "1"}),  # line 4
        json.dumps({"id": "d", "features": [1, 2, 3, 4], "label": True}),  # line 5
        json.dumps({"id": "e", "features": [1, 2, 3, 4], "label": None}),  # line 6
        '{"id": "f", "features": [1, 2, 3, 4], "label": 1e400}',  # line 7: parses to Infinity
        '{"id": "g", "features": [1, 2, 3, 4], "label": ' + "9" * 400 + "}",  # line 8: no float holds it
        json.dumps({"id": "row-5", "features": [1.5, 2, 3, 4.5], "label": -3}),  # line 9: validation (shard 16)
        json.dumps({"id": "r1", "features": [0, 1, 2, 3], "label": 0}),  # line 10: train (shard 41)
    ]
    _put_raw(s3, "incoming/2026/batch.jsonl", rows)

    summary = preprocess.handler(_eventbridge("incoming/2026/batch.jsonl"), lambda_context)

    assert summary == {
        "bucket": RAW_BUCKET,
        "key": "incoming/2026/batch.jsonl",
        "processed": 5,
        "rejected": 5,
        "training_rows": 2,
        "validation_rows": 2,
        "drift": summary["drift"],
        "status": "ok",
    }
    # processed/ keeps its layout: no label there.
    assert _read_lines(s3, "processed/incoming/2026/batch.jsonl") == [
        {"id": "a", "features": [0.0, 0.0, 3.0, 0.0]},
        {"id": "r9", "features": [1.0, 1.0, 3.0, 1.0]},
        {"id": "b", "features": [4.0, 2.0, 5.0, 1.0]},
        {"id": "row-5", "features": [0.5, 0.0, 3.0, 0.125]},
        {"id": "r1", "features": [-1.0, -0.5, 2.0, -0.25]},
    ]
    assert _csv_lines(s3, "training/train/incoming/2026/batch.csv") == [
        "1.0,0.0,0.0,3.0,0.0",
        "0.0,-1.0,-0.5,2.0,-0.25",
    ]
    assert _csv_lines(s3, "training/validation/incoming/2026/batch.csv") == [
        "0.25,1.0,1.0,3.0,1.0",
        "-3.0,0.5,0.0,3.0,0.125",
    ]
    rejected = _read_lines(s3, "rejected/incoming/2026/batch.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [(n, "label must be a finite number") for n in range(4, 9)]
    [emf] = emf_documents(stdout_json())
    assert (emf["RecordsProcessed"], emf["RecordsRejected"]) == (5, 5)


def test_csv_numbers_are_exact(s3: Any, lambda_context: FakeLambdaContext) -> None:
    label, features = 1 / 3, [0.1, 1e-300, -2.5e124, 10**18]
    _put_raw(s3, "exact.jsonl", [json.dumps({"id": "a", "features": features, "label": label})])

    summary = preprocess.handler(_eventbridge("exact.jsonl"), lambda_context)

    assert (summary["training_rows"], summary["validation_rows"]) == (1, 0)
    [line] = _csv_lines(s3, "training/train/exact.csv")
    assert line == "0.3333333333333333,0.1,1e-300,-2.5e+124,1e+18"
    assert [float(value) for value in line.split(",")] == [label, *[float(value) for value in features]]


@pytest.mark.parametrize(
    ("key", "csv_key"),
    [
        ("batch.jsonl", "batch.csv"),
        ("in/2026/batch.json", "in/2026/batch.csv"),
        ("in/batch.txt", "in/batch.txt.csv"),
        ("in/batch.jsonl.gz", "in/batch.jsonl.gz.csv"),
        ("in/BATCH.JSONL", "in/BATCH.JSONL.csv"),
    ],
)
def test_csv_files_are_always_written_and_named_after_the_raw_key(
    key: str, csv_key: str, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put_raw(s3, key, [json.dumps({"id": "a", "features": [1, 2, 3, 4]})])  # no label: both CSVs empty

    summary = preprocess.handler(_eventbridge(key), lambda_context)

    assert (summary["processed"], summary["training_rows"], summary["validation_rows"]) == (1, 0, 0)
    for channel in ("train", "validation"):
        written = s3.get_object(Bucket=PROCESSED_BUCKET, Key=f"training/{channel}/{csv_key}")
        assert written["Body"].read() == b""
        assert written["ContentType"] == "text/csv"
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["Contents"]}
    assert keys == {
        f"processed/{key}",
        f"rejected/{key}",
        f"training/train/{csv_key}",
        f"training/validation/{csv_key}",
    }


def test_a_labelled_row_rejected_for_its_z_score_is_in_no_csv(s3: Any, lambda_context: FakeLambdaContext) -> None:
    baseline = {"means": [0, 0, 0, 0], "stds": [1e-300, 1, 1, 1]}
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="baseline/feature_stats.json", Body=json.dumps(baseline).encode())
    rows = [
        json.dumps({"id": "a", "features": [1e10, 2, 3, 4], "label": 1}),
        json.dumps({"id": "b", "features": [0, 2, 3, 4], "label": 0}),
    ]
    _put_raw(s3, "z.jsonl", rows)

    summary = preprocess.handler(_eventbridge("z.jsonl"), lambda_context)

    assert (summary["processed"], summary["rejected"], summary["training_rows"]) == (1, 1, 1)
    assert _csv_lines(s3, "training/train/z.csv") == ["0.0,0.0,2.0,3.0,4.0"]
    assert _csv_lines(s3, "training/validation/z.csv") == []


def test_the_split_is_stable_and_close_to_the_validation_percent() -> None:
    records = [{"id": f"row-{i}", "features": [0.0], "label": 1.0} for i in range(5000)]
    train, validation = preprocess.training_split(records)
    assert len(train) + len(validation) == 5000
    assert 0.18 < len(validation) / 5000 < 0.22
    assert preprocess.training_split(records) == (train, validation)
    assert preprocess.VALIDATION_PERCENT == 20


def test_a_refused_object_writes_no_csv(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "10")
    _put_raw(s3, "big.jsonl", [json.dumps({"id": "a", "features": [1, 2, 3, 4], "label": 1})])

    summary = preprocess.handler(_eventbridge("big.jsonl"), lambda_context)

    assert summary["status"] == "failed"
    assert (summary["training_rows"], summary["validation_rows"]) == (0, 0)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0


def test_a_missing_raw_bucket_still_raises_for_the_retry(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    # Real S3 answers HeadObject on a missing bucket with a bare 404, like a missing key: GetObject tells them apart.
    def head_object(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    monkeypatch.setattr(aws.client("s3"), "head_object", head_object)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        preprocess.handler(_eventbridge("k.jsonl", bucket="mlp-no-such-raw-bucket"), lambda_context)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0
