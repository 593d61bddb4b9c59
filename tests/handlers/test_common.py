"""mlp_common: logging, EMF, settings, responses, feature validation, batch writes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from mlp_common import features, log, metrics, predictions, responses, settings

from tests.handlers.fakes import FakeLambdaContext


def test_logger_writes_one_json_object_per_line_with_context_keys(capsys: pytest.CaptureFixture[str]) -> None:
    logger = log.Logger("svc", level="INFO")
    logger.inject_context(FakeLambdaContext(aws_request_id="req-1", function_name="fn-1"))
    logger.info("hello\nworld", extra_key=7, level="spoofed")
    logger.debug("hidden below INFO")
    logger.inject_context(FakeLambdaContext())
    logger.warning("second")

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO"
    assert first["message"] == "hello\nworld"
    assert first["service"] == "svc"
    assert first["function_name"] == "fn-1"
    assert first["request_id"] == "req-1"
    assert first["extra_key"] == 7
    assert first["cold_start"] is True
    assert second["cold_start"] is False
    assert second["level"] == "WARNING"


def test_logger_exception_carries_traceback_in_logs_only(capsys: pytest.CaptureFixture[str]) -> None:
    logger = log.Logger("svc")
    try:
        raise KeyError("boom")
    except KeyError:
        logger.exception("failed", obj=object())
    record = json.loads(capsys.readouterr().out)
    assert record["level"] == "ERROR"
    assert record["exception_name"] == "KeyError"
    assert "Traceback" in record["exception"]
    assert record["obj"].startswith("<object")


def test_emf_document_matches_the_specification() -> None:
    doc = metrics.metric_document(
        "Ns",
        [metrics.Metric("Latency", 12.5, "Milliseconds"), metrics.Metric("Count", [1, 2], "Count")],
        {"Environment": "dev", "Variant": "A"},
        timestamp_ms=1_700_000_000_000,
    )
    assert doc == {
        "Environment": "dev",
        "Variant": "A",
        "Latency": 12.5,
        "Count": [1.0, 2.0],
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Ns",
                    "Dimensions": [["Environment", "Variant"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Count", "Unit": "Count"}],
                }
            ],
        },
    }


def test_emit_prints_a_single_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.emit("Ns", [metrics.Metric("RecordsProcessed", 3, "Count")], {"Environment": "dev"})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    doc = json.loads(out)
    assert doc["RecordsProcessed"] == 3.0
    assert abs(doc["_aws"]["Timestamp"] - datetime.now(UTC).timestamp() * 1000) < 60_000


@pytest.mark.parametrize(
    ("metric", "dimensions"),
    [
        (metrics.Metric("X", 1, "Msec"), {"Environment": "dev"}),
        (metrics.Metric("X", math.nan, "Count"), {"Environment": "dev"}),
        (metrics.Metric("X", True, "Count"), {"Environment": "dev"}),
        (metrics.Metric("Environment", 1, "Count"), {"Environment": "dev"}),
        (metrics.Metric("X", 1, "Count"), {"Environment": ""}),
        (metrics.Metric("X", [], "Count"), {"Environment": "dev"}),
    ],
)
def test_emf_refuses_what_cloudwatch_would_drop(metric: metrics.Metric, dimensions: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        metrics.metric_document("Ns", [metric], dimensions)


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLP_X", raising=False)
    with pytest.raises(settings.ConfigError, match="MLP_X is required"):
        settings.env_str("MLP_X")
    monkeypatch.setenv("MLP_X", "abc")
    with pytest.raises(settings.ConfigError, match="MLP_X must be an integer"):
        settings.env_int("MLP_X")
    with pytest.raises(settings.ConfigError, match="MLP_X must be a number"):
        settings.env_float("MLP_X")
    with pytest.raises(settings.ConfigError, match="MLP_X must be one of a, b"):
        settings.env_choice("MLP_X", ("a", "b"), "a")
    monkeypatch.setenv("MLP_X", "0")
    with pytest.raises(settings.ConfigError, match="MLP_X must be >= 1"):
        settings.env_int("MLP_X", minimum=1)
    monkeypatch.setenv("MLP_X", "inf")
    with pytest.raises(settings.ConfigError, match="MLP_X must be a finite number"):
        settings.env_float("MLP_X")


@pytest.mark.parametrize(("raw", "expected"), [("true", True), (" TRUE ", True), ("false", False), ("yes", False)])
def test_flag_is_true_only_for_true(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("MLP_FLAG", raw)
    assert settings.env_flag("MLP_FLAG") is expected


def test_flag_unset_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLP_FLAG", raising=False)
    assert settings.env_flag("MLP_FLAG") is False


def test_run_api_maps_errors_to_safe_bodies(capsys: pytest.CaptureFixture[str]) -> None:
    logger = log.Logger("svc")

    def business() -> dict[str, Any]:
        raise responses.ApiError(409, "conflict explained")

    def crash() -> dict[str, Any]:
        raise RuntimeError("db password is hunter2")

    refused = responses.run_api(business, "r-1", logger)
    assert refused["statusCode"] == 409
    assert json.loads(refused["body"]) == {"error": "conflict explained", "requestId": "r-1"}

    failed = responses.run_api(crash, "r-2", logger)
    assert failed["statusCode"] == 500
    assert failed["headers"] == {"Content-Type": "application/json"}
    assert json.loads(failed["body"]) == {"error": "internal server error", "requestId": "r-2"}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[-1]["exception_name"] == "RuntimeError"
    assert logged[-1]["api_request_id"] == "r-2"


def test_api_request_id_prefers_api_gateway() -> None:
    context = FakeLambdaContext(aws_request_id="lambda-id")
    assert responses.api_request_id({"requestContext": {"requestId": "apigw-id"}}, context) == "apigw-id"
    assert responses.api_request_id({"requestContext": {}}, context) == "lambda-id"
    assert responses.api_request_id("not a dict", context) == "lambda-id"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2, 3], "features must be a list of 4 numbers"),
        ("1,2,3,4", "features must be a list of 4 numbers"),
        ([1, 2, True, 4], r"features\[2\] must be a number"),
        ([1, "2", 3, 4], r"features\[1\] must be a number"),
        ([1, 2, 3, math.inf], r"features\[3\] must be a finite number"),
        ([1, 2, 3, 10**400], r"features\[3\] must be a finite number"),
        ([1e126, 2, 3, 4], r"features\[0\] must be between"),
    ],
)
def test_validate_features_rejects(value: Any, message: str) -> None:
    with pytest.raises(features.FeatureError, match=message):
        features.validate_features(value, 4)


def test_validate_features_converts_to_float() -> None:
    assert features.validate_features([1, 2.5, -3, 0], 4) == [1.0, 2.5, -3.0, 0.0]


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,nan", "1,2,3,inf", "1,2,,4", "1,2,3,1_0", "1,2,3,0x10", "1,2,3,4,"])
def test_parse_csv_features_is_strict(text: str) -> None:
    with pytest.raises(features.FeatureError):
        features.parse_csv_features(text, 4)


def test_parse_csv_features_accepts_plain_numbers() -> None:
    assert features.parse_csv_features(" 1.5, 2 ,-3e2,.5", 4) == [1.5, 2.0, -300.0, 0.5]


@pytest.mark.parametrize("text", ['{"a": NaN}', "[Infinity]", "[" * 100_000 + "]" * 100_000])
def test_loads_strict_rejects_non_json(text: str) -> None:
    with pytest.raises(ValueError):
        features.loads_strict(text)


@pytest.mark.parametrize(
    ("value", "expected"), [(0.0, "0"), (1e-200, "0"), (0.1, "0.1"), (1e-5, "0.00001"), (1e100, "1E+100")]
)
def test_ddb_number_stays_in_dynamodb_range(value: float, expected: str) -> None:
    assert predictions.ddb_number(value) == expected


def test_prediction_item_timestamps_follow_the_contract() -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    item = predictions.prediction_item("r", features=[1.0], source="api", now=now, ttl_days=30, prediction="cat")
    assert item["created_at"] == {"S": "2026-11-21T10:00:00.123Z"}
    assert int(item["expires_at"]["N"]) == int(now.timestamp()) + 30 * 86400
    assert item["prediction"] == {"S": "cat"}
    assert item["status"] == {"S": "completed"}


class _ThrottledThenOk:
    def __init__(self) -> None:
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchWriteItem")
        return {"UnprocessedItems": {}}


class _Rejecting:
    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ValidationException"}}, "BatchWriteItem")


def _items(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        predictions.prediction_item(f"r{i}", features=[1.0], source="stream", now=now, ttl_days=1) for i in range(count)
    ]


def test_batch_write_retries_throttling_with_backoff() -> None:
    client, delays = _ThrottledThenOk(), []
    failed = predictions.batch_write(client, "t", _items(3), base_delay_s=0.1, sleep=delays.append)
    assert failed == {}
    assert client.calls == 2
    assert len(delays) == 1 and 0.05 <= delays[0] <= 0.1


def test_batch_write_reports_a_rejected_chunk_without_raising() -> None:
    failed = predictions.batch_write(_Rejecting(), "t", _items(30), sleep=lambda _: None)
    assert set(failed) == {f"r{i}" for i in range(30)}
    assert set(failed.values()) == {"BatchWriteItem failed: ValidationException"}


def test_backoff_grows_exponentially() -> None:
    assert [predictions.backoff_delay(n, 1.0) <= 2 ** (n - 1) for n in (1, 2, 3)] == [True] * 3
    assert predictions.backoff_delay(4, 1.0) >= 4.0


@pytest.mark.parametrize(
    "text",
    ['"\\ud800"', '["ok", {"k": "\\udfff"}]', '{"\\udbff": 1}', '"a\\ud800\\ud800b"', '"\\ude00\\ud83d"', '"\ud800"'],
)
def test_loads_strict_refuses_lone_surrogates_anywhere(text: str) -> None:
    with pytest.raises(features.LoneSurrogateError, match="JSON string holds a lone surrogate"):
        features.loads_strict(text)
    with pytest.raises(features.LoneSurrogateError):
        features.loads_strict(text.encode("utf-8", "surrogatepass"))


def test_loads_strict_keeps_surrogate_pairs_and_non_ascii() -> None:
    assert features.loads_strict('{"id": "\\ud83d\\ude00 é 💥"}') == {"id": "😀 é 💥"}
    assert features.loads_strict("[" * 500 + '"x"' + "]" * 500) is not None  # deep, but inside the recursion limit


def test_logger_never_raises_on_an_unserialisable_value(capsys: pytest.CaptureFixture[str]) -> None:
    logger = log.Logger("svc")
    logger.info("odd values", huge=10**5000, fine=1, nested=[10**5000])
    line = json.loads(capsys.readouterr().out)
    assert (line["message"], line["huge"], line["fine"], line["nested"]) == (
        "odd values",
        "<unloggable int>",
        1,
        "<unloggable list>",
    )
