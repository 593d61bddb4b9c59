"""validate: the ValidateData task: preprocess's row rules plus a label, thresholds, DataValidationError."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import preprocess
import pytest
import validate
from botocore.exceptions import ClientError
from mlp_common import aws
from mlp_common.settings import ConfigError

from tests.handlers.fakes import PROCESSED_BUCKET, RAW_BUCKET, FakeLambdaContext, log_lines

BUCKET_RULE = "event.bucket must be an S3 bucket name (a string of 3-63 a-z, 0-9, '.', '-')"


def _row(index: int, **extra: Any) -> str:
    return json.dumps({"id": f"r{index}", "features": [1, 2.5, -3, index], "label": index % 2, **extra})


def _put(s3: Any, key: str, lines: list[str] | bytes) -> None:
    body = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)


def _event(key: str, bucket: str = RAW_BUCKET) -> dict[str, Any]:
    return {"bucket": bucket, "key": key}


def _refusal(event: Any, context: FakeLambdaContext) -> str:
    with pytest.raises(validate.DataValidationError) as raised:
        validate.handler(event, context)
    assert type(raised.value).__name__ == "DataValidationError"  # the error name Step Functions matches
    return str(raised.value)


def test_a_valid_upload_passes_with_its_counts_and_nothing_is_written(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _put(s3, "train/2026/batch.jsonl", [_row(i) for i in range(12)] + ["", "not json"])

    result = validate.handler(_event("train/2026/batch.jsonl"), lambda_context)

    assert result == {
        "bucket": RAW_BUCKET,
        "key": "train/2026/batch.jsonl",
        "rows": 12,
        "rejected": 1,
        "status": "valid",
    }
    json.dumps(result, allow_nan=False)
    assert s3.list_objects_v2(Bucket=PROCESSED_BUCKET)["KeyCount"] == 0
    [line] = log_lines(stdout_json())
    assert line["message"] == "training data checked"
    assert line["first_rejections"] == [{"line": 14, "reason": "line is not valid JSON"}]
    assert "not json" not in json.dumps(line)  # a rejected row's text never reaches the log


def test_too_few_valid_rows_is_a_data_validation_error(
    s3: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _put(s3, "small.jsonl", [_row(1), _row(2), _row(3)])

    message = _refusal(_event("small.jsonl"), lambda_context)

    assert message == f"s3://{RAW_BUCKET}/small.jsonl: 3 valid rows, at least 10 required"
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert [(e["message"], e["reason"]) for e in errors] == [("training data refused", message)]


def test_an_empty_object_has_no_valid_rows(s3: Any, lambda_context: FakeLambdaContext) -> None:
    _put(s3, "empty.jsonl", b"")
    assert _refusal(_event("empty.jsonl"), lambda_context).endswith(": 0 valid rows, at least 10 required")


@pytest.mark.parametrize(("valid", "rejected", "passes"), [(18, 2, True), (17, 3, False), (10, 0, True)])
def test_the_rejected_fraction_limit_is_inclusive(
    valid: int, rejected: int, passes: bool, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "f.jsonl", [_row(i) for i in range(valid)] + [_row(i, label=True) for i in range(rejected)])

    if passes:
        assert validate.handler(_event("f.jsonl"), lambda_context)["rejected"] == rejected
        return
    assert _refusal(_event("f.jsonl"), lambda_context) == (
        f"s3://{RAW_BUCKET}/f.jsonl: 3 of 20 rows rejected, at most 0.1 allowed "
        f"(first: line 18: label must be a finite number)"
    )


def test_the_fraction_is_compared_as_written(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    # 0.29 * 100 is 28.999999999999996 in floating point: 29 rejected rows of 100 must still pass at 0.29.
    monkeypatch.setenv("MAX_REJECTED_FRACTION", "0.29")
    _put(s3, "f.jsonl", [_row(i) for i in range(71)] + ["{}"] * 29)
    assert validate.handler(_event("f.jsonl"), lambda_context)["rejected"] == 29


def test_thresholds_are_configurable(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("MIN_TRAINING_ROWS", "2")
    monkeypatch.setenv("MAX_REJECTED_FRACTION", "0.5")
    _put(s3, "t.jsonl", [_row(1), _row(2), "x", "y"])
    assert validate.handler(_event("t.jsonl"), lambda_context)["rows"] == 2


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (json.dumps({"id": "a", "features": [1, 2, 3, 4]}), "label must be a finite number"),
        (json.dumps({"id": "a", "features": [1, 2, 3, 4], "label": True}), "label must be a finite number"),
        (json.dumps({"id": "a", "features": [1, 2, 3, 4], "label": "1"}), "label must be a finite number"),
        (json.dumps({"id": "a", "features": [1, 2, 3, 4], "label": None}), "label must be a finite number"),
        ('{"id": "a", "features": [1, 2, 3, 4], "label": 1e400}', "label must be a finite number"),
        ('{"id": "a", "features": [1, 2, 3, 4], "label": NaN}', "line is not valid JSON"),
        ('{"id": "a", "features": [1, 2, 3, 4], "label": ' + "9" * 400 + "}", "label must be a finite number"),
        (json.dumps({"id": "", "features": [1, 2, 3, 4], "label": 1}), "id must be a non-empty string"),
        (json.dumps({"id": "a", "features": [1, 2, 3], "label": 1}), "features must be a list of 4 numbers"),
        (json.dumps({"id": "a", "features": [1, 2, 3, 1e126], "label": 1}), "features[3] must be between"),
        ('{"id": "a", "features": [1, 2, 3, 4], "label": 1, "x": "\\ud800"}', "line holds a lone surrogate"),
        ("[1, 2]", "line is not a JSON object"),
    ],
)
def test_a_row_is_rejected_by_the_rules_preprocess_applies_plus_the_label(
    line: str,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    s3: Any,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    monkeypatch.setenv("MIN_TRAINING_ROWS", "1")
    monkeypatch.setenv("MAX_REJECTED_FRACTION", "1")
    _put(s3, "rules.jsonl", [_row(1), line])

    result = validate.handler(_event("rules.jsonl"), lambda_context)

    assert (result["rows"], result["rejected"]) == (1, 1)
    checked = next(line for line in log_lines(stdout_json()) if line["message"] == "training data checked")
    assert checked["first_rejections"][0]["line"] == 2
    assert checked["first_rejections"][0]["reason"].startswith(reason)


def test_validate_and_preprocess_reject_the_same_rows(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("MIN_TRAINING_ROWS", "1")
    monkeypatch.setenv("MAX_REJECTED_FRACTION", "1")
    body = (
        b"\xef\xbb\xbf" + _row(1).encode() + b"\r\n\xff\xfe\r\n\r\n"
        + b'{"id": "x", "features": [1, 2, 3, 4], "label": 1.5}\n'
        + b'{"id": "y", "features": [1, 2, 3, 4], "label": false}\n'
        + b'{"id": "z", "features": [1, 2, true, 4], "label": 1}\n'
    )  # fmt: skip
    _put(s3, "same.jsonl", body)

    checked = validate.handler(_event("same.jsonl"), lambda_context)
    event = {"detail": {"bucket": {"name": RAW_BUCKET}, "object": {"key": "same.jsonl"}}}
    processed = preprocess.handler(event, lambda_context)

    assert (checked["rows"], checked["rejected"]) == (processed["processed"], processed["rejected"]) == (2, 3)


def test_a_missing_object_is_a_data_validation_error(s3: Any, lambda_context: FakeLambdaContext) -> None:
    assert _refusal(_event("gone.jsonl"), lambda_context) == f"s3://{RAW_BUCKET}/gone.jsonl does not exist"


def test_an_object_over_the_cap_is_refused_without_reading_it(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "100")
    _put(s3, "big.jsonl", [_row(i) for i in range(10)])
    size = s3.head_object(Bucket=RAW_BUCKET, Key="big.jsonl")["ContentLength"]
    client = aws.client("s3")

    def get_object(**_: Any) -> Any:
        raise AssertionError("the body of an object over the cap must not be requested")

    monkeypatch.setattr(client, "get_object", get_object)

    message = _refusal(_event("big.jsonl"), lambda_context)

    assert message == f"s3://{RAW_BUCKET}/big.jsonl: object is {size} bytes; limit is 100"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event must be an object with bucket and key"),
        ("s3://b/k", "event must be an object with bucket and key"),
        ({"key": "k"}, BUCKET_RULE),
        ({"bucket": "", "key": "k"}, BUCKET_RULE),
        ({"bucket": 7, "key": "k"}, BUCKET_RULE),
        ({"bucket": "a b", "key": "k"}, BUCKET_RULE),
        ({"bucket": "Raw-Bucket", "key": "k"}, BUCKET_RULE),
        ({"bucket": "..", "key": "k"}, BUCKET_RULE),
        ({"bucket": "ab", "key": "k"}, BUCKET_RULE),
        ({"bucket": "b" * 64, "key": "k"}, BUCKET_RULE),
        ({"bucket": "-raw", "key": "k"}, BUCKET_RULE),
        ({"bucket": RAW_BUCKET}, "event.key must be a non-empty string of Unicode text"),
        ({"bucket": RAW_BUCKET, "key": ""}, "event.key must be a non-empty string of Unicode text"),
        ({"bucket": RAW_BUCKET, "key": ["k"]}, "event.key must be a non-empty string of Unicode text"),
        ({"bucket": RAW_BUCKET, "key": "a\ud800"}, "event.key must be a non-empty string of Unicode text"),
        ({"bucket": RAW_BUCKET, "key": "é" * 513}, "event.key must be at most 1024 bytes (UTF-8)"),
    ],
)
def test_a_malformed_event_is_a_data_validation_error_naming_the_part(
    event: Any, message: str, s3: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    client = aws.client("s3")
    for operation in ("head_object", "get_object"):
        monkeypatch.setattr(client, operation, lambda **_: pytest.fail("no AWS call for a malformed event"))
    assert _refusal(event, lambda_context) == message


def test_the_workflow_passes_the_object_created_event_with_its_percent_encoded_key(
    s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "incoming/my batch+1 é.jsonl", [_row(i) for i in range(10)])
    event = {"detail": {"bucket": {"name": RAW_BUCKET}, "object": {"key": "incoming/my%20batch+1%20%C3%A9.jsonl"}}}

    result = validate.handler(event, lambda_context)

    assert (result["key"], result["rows"]) == ("incoming/my batch+1 é.jsonl", 10)


@pytest.mark.parametrize(
    "detail",
    [None, [], {"bucket": "b", "object": {"key": "k"}}, {"bucket": {"name": RAW_BUCKET}}],
)
def test_a_malformed_object_created_event_names_the_part(
    detail: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    assert _refusal({"detail": detail}, lambda_context) == "event.detail must hold bucket.name and object.key"


def test_a_data_validation_error_is_a_value_error() -> None:
    assert issubclass(validate.DataValidationError, ValueError)


@pytest.mark.parametrize(("operation", "code"), [("head_object", "AccessDenied"), ("get_object", "SlowDown")])
def test_other_aws_errors_raise_as_they_are_for_the_workflow_to_retry(
    operation: str, code: str, monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "ok.jsonl", [_row(i) for i in range(10)])

    def fail(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, operation)

    monkeypatch.setattr(aws.client("s3"), operation, fail)
    with pytest.raises(ClientError) as raised:
        validate.handler(_event("ok.jsonl"), lambda_context)
    assert aws.error_code(raised.value) == code


@pytest.mark.parametrize("real_s3", [False, True])
def test_a_missing_bucket_is_a_data_validation_error(
    real_s3: bool, monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    if real_s3:  # real S3 answers HeadObject on a missing bucket with a bare 404 (no body); GetObject says NoSuchBucket

        def head_object(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

        monkeypatch.setattr(aws.client("s3"), "head_object", head_object)

    message = _refusal(_event("k.jsonl", bucket="mlp-no-such-bucket"), lambda_context)

    assert message == "s3://mlp-no-such-bucket/k.jsonl does not exist"


def test_an_object_that_grew_after_head_object_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "100")
    _put(s3, "grown.jsonl", [_row(i) for i in range(10)])
    client = aws.client("s3")
    monkeypatch.setattr(client, "head_object", lambda **_: {"ContentLength": 10})

    assert _refusal(_event("grown.jsonl"), lambda_context).startswith(f"s3://{RAW_BUCKET}/grown.jsonl: object is ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAX_REJECTED_FRACTION", "1.5", "environment variable MAX_REJECTED_FRACTION must be between 0 and 1"),
        ("MAX_REJECTED_FRACTION", "-0.1", "environment variable MAX_REJECTED_FRACTION must be between 0 and 1"),
        ("MAX_REJECTED_FRACTION", "nan", "environment variable MAX_REJECTED_FRACTION must be a finite number"),
        ("MIN_TRAINING_ROWS", "0", "environment variable MIN_TRAINING_ROWS must be >= 1"),
        ("FEATURE_COUNT", None, "environment variable FEATURE_COUNT is required but not set"),
        ("MAX_OBJECT_BYTES", None, "environment variable MAX_OBJECT_BYTES is required but not set"),
    ],
)
def test_a_bad_configuration_raises_a_config_error_naming_the_variable(
    name: str, value: str | None, message: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        validate.handler(_event("k.jsonl"), lambda_context)
    assert str(raised.value).startswith(message)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MIN_TRAINING_ROWS", "MAX_REJECTED_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    cfg = validate.Settings.from_env()
    assert (cfg.min_rows, cfg.max_rejected_fraction, cfg.feature_count) == (10, 0.1, 4)
