"""inference: routes, phase one, SageMaker invocation (Stubber), recording, error mapping, no leaks."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import inference
import pytest
from botocore.stub import Stubber
from mlp_common import aws

from tests.handlers.fakes import (
    REGISTRY_TABLE,
    TTL_DAYS,
    FakeLambdaContext,
    api_event,
    emf_documents,
    expect_invoke,
    log_lines,
    model_answer,
    response_body,
)

Items = Callable[[], dict[str, dict[str, Any]]]


# --- phase one -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'),
        api_event("GET", "/predict", query={"features": "1,2,3,4"}),
        api_event("POST", "/predict", body="not even json"),
    ],
)
def test_phase_one_predict_answers_503_and_writes_nothing(
    event: dict[str, Any], prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    response = inference.handler(event, lambda_context)
    assert response["statusCode"] == 503
    assert response_body(response) == {"error": "model endpoint not enabled (phase one)", "requestId": "api-req-0001"}
    assert prediction_items() == {}


# --- phase two happy paths -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enabled")
def test_post_predict_invokes_endpoint_and_records_the_variant(
    prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    expect_invoke(runtime, "1.5,2.0,-3.0,0.0", model_answer(b'{"predictions": [{"score": 0.73}]}'))
    before = time.time()

    response = inference.handler(
        api_event("POST", "/predict", body='{"features": [1.5, 2, -3, 0], "ignored": 1}'), lambda_context
    )

    assert response["statusCode"] == 200
    body = response_body(response)
    assert body["requestId"] == "api-req-0001"
    assert body["prediction"] == 0.73
    assert body["variant"] == "VariantB"
    assert body["latencyMs"] >= 0
    item = prediction_items()["api-req-0001"]
    assert item["variant"] == "VariantB"
    assert item["status"] == "completed"
    assert item["source"] == "api"
    assert item["prediction"] == Decimal("0.73")
    assert item["features"] == [Decimal("1.5"), Decimal("2"), Decimal("-3"), Decimal("0")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["created_at"])
    assert before + TTL_DAYS * 86400 - 2 <= item["expires_at"] <= time.time() + TTL_DAYS * 86400
    assert item["latency_ms"] == Decimal(str(body["latencyMs"]))
    emf = emf_documents(stdout_json())
    assert len(emf) == 1
    assert emf[0]["Variant"] == "VariantB"
    assert emf[0]["Environment"] == "test"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MlPipelineTest"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Variant"]]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "PredictionLatency", "Unit": "Milliseconds"}]


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    ("payload", "expected"), [(b"0.42\n", 0.42), (b"7", 7.0), (b'{"predictions": [0.1]}', 0.1), (b"[0.73]", 0.73)]
)
def test_get_predict_accepts_every_model_answer_shape(
    payload: bytes, expected: float, prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    expect_invoke(runtime, "1.5,2.0,3.0,4.0", model_answer(payload, "VariantA"))
    event = api_event("GET", "/predict", query={"features": "1.5,2,3,4"}, request_id="get-1")

    response = inference.handler(event, lambda_context)

    assert response["statusCode"] == 200
    assert response_body(response)["prediction"] == expected
    assert prediction_items()["get-1"]["variant"] == "VariantA"


@pytest.mark.usefixtures("enabled")
def test_base64_body_and_lambda_request_id_fallback(
    prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(b"0.5"))
    event = api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}', base64_body=True)
    del event["requestContext"]

    response = inference.handler(event, lambda_context)

    assert response["statusCode"] == 200
    assert set(prediction_items()) == {lambda_context.aws_request_id}


# --- invalid input ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (api_event("POST", "/predict", body="{bad json"), 400, "request body is not valid JSON"),
        (api_event("POST", "/predict", body=None), 400, "request body must be a JSON object with a 'features' list"),
        (api_event("POST", "/predict", body="[1, 2, 3, 4]"), 400, "request body must be a JSON object"),
        (api_event("POST", "/predict", body='{"features": [1, 2, 3]}'), 400, "features must be a list of 4 numbers"),
        (api_event("POST", "/predict", body='{"features": "1,2,3,4"}'), 400, "features must be a list of 4 numbers"),
        (api_event("POST", "/predict", body='{"features": [1, 2, 3, NaN]}'), 400, "request body is not valid JSON"),
        (api_event("POST", "/predict", body='{"features": [1, 2, 3, 1e999]}'), 400, "features[3] must be a finite"),
        (api_event("POST", "/predict", body='{"features": [1, 2, true, 4]}'), 400, "features[2] must be a number"),
        (api_event("POST", "/predict", body='{"features": [1, 2, "3", 4]}'), 400, "features[2] must be a number"),
        (api_event("POST", "/predict", body="x" * 70_000), 413, "request body exceeds 65536 bytes"),
        (api_event("GET", "/predict"), 400, "query parameter 'features' is required"),
        (api_event("GET", "/predict", query={"features": "1,2,3"}), 400, "features must be a list of 4 numbers"),
        (api_event("GET", "/predict", query={"features": "1,2,x,4"}), 400, "features[2] must be a number"),
        (api_event("GET", "/predict", query={"features": "1,2,3,inf"}), 400, "features[3] must be a number"),
        (api_event("DELETE", "/predict"), 404, "route not found"),
        (api_event("GET", "/admin"), 404, "route not found"),
    ],
)
def test_invalid_requests_get_specific_safe_errors(
    event: dict[str, Any],
    status: int,
    message: str,
    prediction_items: Items,
    runtime: Stubber,
    lambda_context: FakeLambdaContext,
) -> None:
    response = inference.handler(event, lambda_context)
    assert response["statusCode"] == status
    body = response_body(response)
    assert body["error"].startswith(message)
    assert body["requestId"] == "api-req-0001"
    assert prediction_items() == {}


@pytest.mark.usefixtures("enabled")
def test_repeated_features_query_parameter_is_refused(
    prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    event = api_event("GET", "/predict", query={"features": "1,2,3,4"})
    event["multiValueQueryStringParameters"] = {"features": ["1,2,3,4", "5,6,7,8"]}
    response = inference.handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert prediction_items() == {}


# --- AWS error paths -------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    ("code", "http", "status", "message"),
    [
        ("ModelError", 424, 502, "model invocation failed"),
        ("ValidationError", 400, 502, "model invocation failed"),
        ("ServiceUnavailable", 503, 502, "model invocation failed"),
        ("ThrottlingException", 400, 429, "model endpoint is throttling requests; retry later"),
    ],
)
def test_sagemaker_errors_map_to_gateway_statuses(
    code: str,
    http: int,
    status: int,
    message: str,
    prediction_items: Items,
    runtime: Stubber,
    lambda_context: FakeLambdaContext,
    stdout_json: Callable,
) -> None:
    runtime.add_client_error("invoke_endpoint", code, "Received server error (500) from model: SECRET-DETAIL", http)

    response = inference.handler(api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'), lambda_context)

    assert response["statusCode"] == status
    assert response_body(response) == {"error": message, "requestId": "api-req-0001"}
    assert "SECRET-DETAIL" not in response["body"]
    assert prediction_items() == {}
    assert any(line["message"] == "model invocation failed" for line in log_lines(stdout_json()))


@pytest.mark.usefixtures("enabled")
def test_unparseable_model_answer_is_502(prediction_items: Items, runtime: Stubber, lambda_context: Any) -> None:
    expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(b"<html>oops</html>"))
    response = inference.handler(api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'), lambda_context)
    assert response["statusCode"] == 502
    assert prediction_items() == {}


@pytest.mark.usefixtures("enabled")
def test_dynamodb_failure_is_a_generic_500_logged_with_request_id(
    mocked_aws: None, runtime: Stubber, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    # No tables created: PutItem raises ResourceNotFoundException.
    expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(b"0.5"))

    response = inference.handler(api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'), lambda_context)

    assert response["statusCode"] == 500
    assert response_body(response) == {"error": "internal server error", "requestId": "api-req-0001"}
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors[-1]["exception_name"] == "ResourceNotFoundException"
    assert errors[-1]["request_id"] == lambda_context.aws_request_id
    assert errors[-1]["api_request_id"] == "api-req-0001"


def test_missing_configuration_is_a_generic_500_naming_the_variable_in_logs(
    monkeypatch: pytest.MonkeyPatch, mocked_aws: None, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    monkeypatch.delenv("FEATURE_COUNT")
    response = inference.handler(api_event("GET", "/models"), lambda_context)
    assert response["statusCode"] == 500
    assert "FEATURE_COUNT" not in response["body"]
    assert "environment variable FEATURE_COUNT is required" in log_lines(stdout_json())[-1]["exception"]


# --- GET /models -----------------------------------------------------------------------------------------------


def test_models_lists_approved_models_newest_first_limited_to_50(tables: Any, lambda_context: Any) -> None:
    for i in range(55):
        tables.put_item(
            TableName=REGISTRY_TABLE,
            Item={
                "model_name": {"S": "churn"},
                "version": {"S": f"v{i:03d}"},
                "status": {"S": "approved"},
                "registered_at": {"S": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"},
            },
        )
    tables.put_item(
        TableName=REGISTRY_TABLE,
        Item={
            "model_name": {"S": "churn"},
            "version": {"S": "v999"},
            "status": {"S": "pending"},
            "registered_at": {"S": "2027-01-01T00:00:00Z"},
        },
    )

    response = inference.handler(api_event("GET", "/models"), lambda_context)

    assert response["statusCode"] == 200
    body = response_body(response)
    assert body["requestId"] == "api-req-0001"
    versions = [model["version"] for model in body["models"]]
    assert versions == [f"v{i:03d}" for i in range(54, 4, -1)]
    assert body["models"][0] == {"model_name": "churn", "version": "v054", "registered_at": "2026-01-01T00:00:54Z"}


def test_models_works_in_phase_one_with_an_empty_registry(tables: Any, lambda_context: Any) -> None:
    response = inference.handler(api_event("GET", "/models"), lambda_context)
    assert response["statusCode"] == 200
    assert response_body(response) == {"models": [], "requestId": "api-req-0001"}


# --- no leaks, whatever happens --------------------------------------------------------------------------------

_SECRET = "s3cr3t-internal-detail"


class _Boom(Exception):
    pass


def _malformed_events() -> list[Any]:
    bodies = ["", "{", "null", "[]", '"str"', "1e999", '{"features": null}', '{"features": [[1], 2, 3, 4]}']
    bodies += ['{"features": {"a": 1}}', '{"features": [1, 2, 3, 4, 5]}', "\x00\xff", "[" * 50_000, '{"a":' * 5000]
    events: list[Any] = [api_event("POST", "/predict", body=b) for b in bodies]
    events += [api_event("GET", "/predict", query={"features": q}) for q in ["", ",,,", "1;2;3;4", "💥,1,2,3"]]
    events += [
        api_event("POST", "/predict", body="!!!notbase64", base64_body=False) | {"isBase64Encoded": True},
        {"httpMethod": "POST", "resource": "/predict", "body": 12345},
        {"httpMethod": None, "resource": None},
        {"httpMethod": "GET", "resource": "/predict", "queryStringParameters": ["features"]},
        {},
        [],
        "not an event",
        None,
    ]
    return events


@pytest.mark.usefixtures("enabled")
def test_no_response_ever_leaks_exception_details(
    monkeypatch: pytest.MonkeyPatch, prediction_items: Items, lambda_context: FakeLambdaContext
) -> None:
    responses = [inference.handler(event, lambda_context) for event in _malformed_events()]

    def explode(*_: Any, **__: Any) -> Any:
        raise _Boom(_SECRET)

    valid = api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}')
    for target in ("sagemaker-runtime", "dynamodb"):
        with monkeypatch.context() as patch:
            client = aws.client(target)
            patch.setattr(client, "invoke_endpoint" if target == "sagemaker-runtime" else "put_item", explode)
            if target == "dynamodb":
                patch.setattr(aws.client("sagemaker-runtime"), "invoke_endpoint", lambda **_: model_answer(b"0.5"))
            responses.append(inference.handler(valid, lambda_context))
    models = api_event("GET", "/models")
    for name, event in [("route", valid), ("route", models), ("features_from_body", valid)]:
        with monkeypatch.context() as patch:
            patch.setattr(inference, name, explode)
            responses.append(inference.handler(event, lambda_context))
    with monkeypatch.context() as patch:
        patch.setattr(aws.client("dynamodb"), "query", explode)
        responses.append(inference.handler(models, lambda_context))

    assert len(responses) == len(_malformed_events()) + 6
    statuses = {response["statusCode"] for response in responses}
    assert statuses <= {400, 404, 413, 500}
    assert 500 in statuses and 400 in statuses
    forbidden = ["Traceback", _SECRET, "_Boom", "Exception", "Error:", "KeyError", "AttributeError", "TypeError"]
    forbidden += ["ValueError", "JSONDecodeError", "RecursionError", 'File "', "line "]
    for response in responses:
        assert response["headers"] == {"Content-Type": "application/json"}
        body = json.loads(response["body"])
        assert set(body) == {"error", "requestId"}
        for word in forbidden:
            assert word not in response["body"], (word, response["body"])
    assert prediction_items() == {}
