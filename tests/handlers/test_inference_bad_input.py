"""inference on bad input: the body limit in UTF-8 bytes, lone surrogates, unstorable model answers, wrong types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import inference
import pytest
from botocore.stub import Stubber
from mlp_common import responses

from tests.handlers.fakes import (
    FakeLambdaContext,
    api_event,
    expect_invoke,
    log_lines,
    model_answer,
    padded_body,
    response_body,
)

Items = Callable[[], dict[str, dict[str, Any]]]


# --- bytes, not characters; lone surrogates; unstorable model answers; wrongly typed events --------------------


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize("base64_body", [False, True])
def test_body_limit_counts_utf8_bytes_not_characters(
    base64_body: bool, prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    body = '{"features": [1, 2, 3, 4], "pad": "' + "é" * 40_000 + '"}'  # 40,035 characters, 80,035 bytes
    assert len(body) < responses.MAX_BODY_BYTES < len(body.encode())

    response = inference.handler(api_event("POST", "/predict", body=body, base64_body=base64_body), lambda_context)

    assert response["statusCode"] == 413
    assert response_body(response) == {"error": "request body exceeds 65536 bytes", "requestId": "api-req-0001"}
    assert prediction_items() == {}


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize("base64_body", [False, True])
@pytest.mark.parametrize(("size", "status"), [(65_536, 200), (65_537, 413)])
@pytest.mark.parametrize("pad_char", ["é", "€", "💥"])
def test_body_limit_boundary_is_exact_in_bytes(
    size: int,
    status: int,
    pad_char: str,
    base64_body: bool,
    prediction_items: Items,
    runtime: Stubber,
    lambda_context: FakeLambdaContext,
) -> None:
    if status == 200:
        expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(b"0.5"))
    event = api_event("POST", "/predict", body=padded_body(size, pad_char), base64_body=base64_body)

    response = inference.handler(event, lambda_context)

    assert response["statusCode"] == status
    assert set(prediction_items()) == ({"api-req-0001"} if status == 200 else set())


@pytest.mark.usefixtures("enabled")
def test_base64_body_over_the_limit_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    decoded: list[Any] = []
    monkeypatch.setattr(responses.base64, "b64decode", lambda *a, **k: decoded.append(a) or b"")
    event = api_event("POST", "/predict", body="A" * 87_388)
    event["isBase64Encoded"] = True

    response = inference.handler(event, lambda_context)

    assert response["statusCode"] == 413
    assert response_body(response)["error"] == "request body exceeds 65536 bytes"
    assert decoded == []


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    "body",
    [
        '{"features": [1, 2, 3, 4], "note": "\\ud800"}',  # escaped
        '{"features": [1, 2, 3, 4], "note": "\ud800"}',  # the code point itself, in the event's string
        '{"features": [1, 2, 3, 4], "\\udc00": 1}',  # in a key
    ],
)
def test_lone_surrogate_in_the_body_is_a_400(
    body: str, prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    response = inference.handler(api_event("POST", "/predict", body=body), lambda_context)
    assert response["statusCode"] == 400
    assert response_body(response) == {
        "error": "request body holds a lone surrogate (not valid Unicode)",
        "requestId": "api-req-0001",
    }
    assert prediction_items() == {}


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    "answer",
    [
        b'"\\ud800"',
        b'"label-\\udfff"',
        b'{"predictions": ["\\udbff"]}',
        b'{"predictions": [{"score": "\\ud800"}]}',
        b'"\xed\xa0\x80"',
        b"1e200",
        b'{"predictions": [-1e126]}',
        b"1" + b"0" * 400,
    ],
)
def test_model_answer_that_cannot_be_stored_is_a_502(
    answer: bytes, prediction_items: Items, runtime: Stubber, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(answer))

    response = inference.handler(api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'), lambda_context)

    assert response["statusCode"] == 502
    assert response_body(response) == {"error": "model invocation failed", "requestId": "api-req-0001"}
    assert prediction_items() == {}
    [warning] = [line for line in log_lines(stdout_json()) if line["message"] == "model invocation failed"]
    assert warning["detail"] == "unparseable model response"


@pytest.mark.usefixtures("enabled")
@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        ([], 400, "request is not an API Gateway proxy event"),
        ("GET /models", 400, "request is not an API Gateway proxy event"),
        (
            {"httpMethod": "GET", "resource": "/predict", "multiValueQueryStringParameters": {"features": 5}},
            400,
            "query parameter 'features' is required (comma-separated numbers)",
        ),
        (
            {"httpMethod": "GET", "resource": "/predict", "multiValueQueryStringParameters": ["features"]},
            400,
            "query parameter 'features' is required (comma-separated numbers)",
        ),
        (
            {"httpMethod": "GET", "resource": "/predict", "queryStringParameters": {"features": ["1,2,3,4"]}},
            400,
            "query parameter 'features' is required (comma-separated numbers)",
        ),
        ({"httpMethod": ["POST"], "resource": "/predict"}, 404, "route not found"),
        ({"httpMethod": "POST", "resource": "/predict", "body": {"features": [1, 2, 3, 4]}}, 400, "request body must"),
    ],
)
def test_wrongly_typed_event_parts_get_a_4xx(
    event: Any, status: int, message: str, prediction_items: Items, runtime: Stubber, lambda_context: Any
) -> None:
    response = inference.handler(event, lambda_context)
    assert response["statusCode"] == status
    assert response_body(response)["error"].startswith(message)
    assert prediction_items() == {}


@pytest.mark.parametrize("request_id", ["\ud800", "", "r" * 129, 42])
def test_unusable_api_request_id_falls_back_to_the_lambda_request_id(request_id: Any) -> None:
    event = {"requestContext": {"requestId": request_id}}
    assert responses.api_request_id(event, FakeLambdaContext()) == FakeLambdaContext().aws_request_id
