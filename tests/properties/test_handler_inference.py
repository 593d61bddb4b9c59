"""inference, property-based: a client's mistake is a 4xx, a model's is a 502, and no body carries internals.

- Any malformed request (any body, query or event part of the wrong type; lone surrogates; NaN; oversize) gets a
  4xx with one of the documented messages, and the model is never called.
- Any request, valid or mutated at any place, is answered 200/400/404/413: never a 5xx.
- The body limit counts UTF-8 bytes (after base64 decoding when API Gateway encoded the body).
- Any model answer gives a 200 with a stored prediction, or a 502 `model invocation failed` with nothing stored.
- Every error body is exactly {"error", "requestId"}; no traceback, exception name, path or exception text.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from decimal import Decimal
from typing import Any

import hypothesis
import inference
import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given
from hypothesis import strategies as st
from mlp_common import aws

from tests.handlers.fakes import (
    FEATURE_COUNT,
    PREDICTIONS_TABLE,
    FakeLambdaContext,
    api_event,
    model_answer,
    padded_body,
)
from tests.handlers.strategies import (
    BAD_ANSWERS,
    CLEAN_TEXT,
    GOOD_ANSWERS,
    HOSTILE_VALUES,
    JSON_VALUES,
    TEXT_WITH_LONE_SURROGATE,
    bad_feature_vectors,
    feature_vectors,
    mutated,
)

pytestmark = pytest.mark.usefixtures("handler_env", "enabled")

LIMIT = 64 * 1024
CLIENT_MESSAGES = [
    re.escape(message)
    for message in (
        "request body must be a JSON object with a 'features' list",
        "request body is not valid JSON",
        "request body is not valid base64",
        "request body holds a lone surrogate (not valid Unicode)",
        f"request body exceeds {LIMIT} bytes",
        "request is not an API Gateway proxy event",
        "query parameter 'features' must be given once",
        "query parameter 'features' is required (comma-separated numbers)",
        "route not found",
    )
] + [
    rf"features must be a list of {FEATURE_COUNT} numbers",
    r"features\[\d+\] must be a (finite )?number",
    r"features\[\d+\] must be between -1e125 and 1e125",
]
CLIENT_MESSAGE = re.compile("|".join(CLIENT_MESSAGES))
INTERNALS = ["Traceback", 'File "', ".py", "/work", "Error", "Exception", "errno", "<", "object at 0x"]
_request_ids = itertools.count()
_DESERIALIZER = TypeDeserializer()


def _error(response: dict[str, Any]) -> str:
    """The error message of a response, after checking the documented shape and the absence of internals."""
    assert response["headers"] == {"Content-Type": "application/json"}
    body = json.loads(response["body"])
    assert set(body) == {"error", "requestId"}
    assert isinstance(body["requestId"], str) and body["requestId"]
    for word in INTERNALS:
        assert word not in body["error"], (word, body)
    return body["error"]


def _stored(ddb: Any, request_id: str) -> dict[str, Any] | None:
    """The item recorded for `request_id`, plain Python (numbers as Decimal), or None.

    One GetItem, not a scan: the examples of a test share one table, which grows with every 200.
    """
    item = ddb.get_item(TableName=PREDICTIONS_TABLE, Key={"request_id": {"S": request_id}}, ConsistentRead=True)
    return {key: _DESERIALIZER.deserialize(value) for key, value in item["Item"].items()} if "Item" in item else None


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The function's SageMaker runtime client answering 0.5 to every call, which it records."""
    calls: list[dict[str, Any]] = []

    def invoke_endpoint(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return model_answer(b"0.5")

    monkeypatch.setattr(aws.client("sagemaker-runtime"), "invoke_endpoint", invoke_endpoint)
    return calls


def _post(body: Any, *, base64_body: bool = False) -> dict[str, Any]:
    event = api_event("POST", "/predict", body="")
    if base64_body and isinstance(body, str):
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    return event | {"body": body, "isBase64Encoded": base64_body}


_GOOD = {"features": [1, 2, 3, 4]}
# Body texts that are wrong in one way, whatever the draw (each answered 400).
BAD_BODY_TEXTS = st.one_of(
    JSON_VALUES.filter(lambda value: not isinstance(value, dict) or "features" not in value).map(json.dumps),
    bad_feature_vectors(FEATURE_COUNT).map(lambda features: json.dumps({"features": features})),
    st.builds(
        lambda extra, in_key, ascii_only: json.dumps(
            {**_GOOD, **({extra: 1} if in_key else {"note": extra})}, ensure_ascii=ascii_only
        ),
        TEXT_WITH_LONE_SURROGATE,
        st.booleans(),
        st.booleans(),  # escaped ("\\ud800"), or the code point itself in the event's string
    ),
    st.text(max_size=20).map(lambda text: "#" + text),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(lambda constant: f'{{"features": [1, 2, 3, {constant}]}}'),
)
BAD_QUERY_VALUES = st.one_of(
    st.sampled_from(["", ",,,", "1,2,3", "1,2,3,4,5", "1;2;3;4", "1,2,3,nan", "1,2,3,inf", "1,2,3,1e999"]),
    TEXT_WITH_LONE_SURROGATE,
    st.lists(st.text(max_size=4), min_size=FEATURE_COUNT, max_size=FEATURE_COUNT).map(",".join),
)


@st.composite
def bad_query(draw: st.DrawFn) -> dict[str, Any]:
    event = api_event("GET", "/predict", query={"features": draw(BAD_QUERY_VALUES)})
    where = draw(st.sampled_from(["value", "params", "multi"]))
    if where == "params":
        event["queryStringParameters"] = draw(HOSTILE_VALUES.filter(lambda value: not isinstance(value, dict)))
    elif where == "multi":
        event["multiValueQueryStringParameters"] = {"features": ["1,2,3,4", "1,2,3,4"]}
    return event


@st.composite
def bad_route(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(["PUT", "DELETE", "PATCH"]) | HOSTILE_VALUES.filter(lambda value: value != "GET"))
    path = draw(st.sampled_from(["/predict", "/admin", "/predict/x", ""]))
    return api_event("GET", "/models") | {"httpMethod": method, "resource": path, "path": path}


def _oversize(size: int, pad: str, base64_body: bool) -> dict[str, Any]:
    return _post(padded_body(size, pad), base64_body=base64_body)


# (event, status): a request that is wrong in one way, whatever the draw.
MALFORMED_REQUESTS = st.one_of(
    st.builds(_post, BAD_BODY_TEXTS, base64_body=st.booleans()).map(lambda event: (event, 400)),
    HOSTILE_VALUES.filter(lambda body: not isinstance(body, str) or not body).map(lambda body: (_post(body), 400)),
    st.text(min_size=1, max_size=20).map(lambda text: (_post(text + "!") | {"isBase64Encoded": True}, 400)),
    st.builds(
        _oversize,
        st.integers(LIMIT + 1, LIMIT + 4) | st.integers(LIMIT + 5, 2 * LIMIT),
        st.sampled_from(["a", "é", "€", "💥"]),
        st.booleans(),
    ).map(lambda event: (event, 413)),
    bad_query().map(lambda event: (event, 400)),
    bad_route().map(lambda event: (event, 404)),
    HOSTILE_VALUES.filter(lambda event: not isinstance(event, dict)).map(lambda event: (event, 400)),
)


@given(case=MALFORMED_REQUESTS)
def test_a_malformed_request_is_a_4xx_with_a_documented_message_and_never_reaches_the_model(
    case: tuple[Any, int], model: list[dict[str, Any]]
) -> None:
    event, status = case
    model.clear()

    response = inference.handler(event, FakeLambdaContext())

    assert response["statusCode"] == status
    assert CLIENT_MESSAGE.fullmatch(_error(response))
    assert model == []


VALID_REQUESTS = st.one_of(
    feature_vectors(FEATURE_COUNT).map(lambda features: _post(json.dumps({"features": features}))),
    feature_vectors(FEATURE_COUNT).map(
        lambda features: api_event("GET", "/predict", query={"features": ",".join(repr(float(x)) for x in features)})
    ),
    st.just(api_event("GET", "/models")),
)


@given(event=VALID_REQUESTS.flatmap(mutated) | HOSTILE_VALUES)
def test_any_request_is_answered_without_a_5xx_or_internals(
    event: Any, model: list[dict[str, Any]], tables: Any
) -> None:
    response = inference.handler(event, FakeLambdaContext())

    hypothesis.event(f"status {response['statusCode']}")
    assert response["statusCode"] in {200, 400, 404, 413}
    if response["statusCode"] != 200:
        assert CLIENT_MESSAGE.fullmatch(_error(response))
        return
    body = json.loads(response["body"])
    if "models" not in body:
        assert set(body) == {"requestId", "prediction", "variant", "latencyMs"}
        assert _stored(tables, body["requestId"])["prediction"] == Decimal("0.5")


@given(
    size=st.integers(LIMIT - 4, LIMIT + 4) | st.integers(LIMIT // 2, 2 * LIMIT),
    pad=st.sampled_from(["a", "é", "€", "💥"]),
    base64_body=st.booleans(),
)
def test_the_body_limit_counts_utf8_bytes(
    size: int, pad: str, base64_body: bool, model: list[dict[str, Any]], tables: Any
) -> None:
    body = padded_body(size, pad)
    event = _post(body, base64_body=base64_body) | {"requestContext": {"requestId": f"size-{next(_request_ids)}"}}

    response = inference.handler(event, FakeLambdaContext())

    if size > LIMIT:
        assert response["statusCode"] == 413
        assert _error(response) == f"request body exceeds {LIMIT} bytes"
    else:
        assert response["statusCode"] == 200, (len(body), size, response["body"])


@given(answer=st.one_of(GOOD_ANSWERS, BAD_ANSWERS), variant=CLEAN_TEXT)
def test_any_model_answer_is_a_200_with_the_stored_prediction_or_a_502_storing_nothing(
    answer: Any, variant: str, monkeypatch: pytest.MonkeyPatch, tables: Any
) -> None:
    request_id = f"answer-{next(_request_ids)}"
    body, prediction = answer if isinstance(answer, tuple) else (answer, None)

    def invoke_endpoint(**_: Any) -> dict[str, Any]:
        if isinstance(body, Exception):
            raise body
        return model_answer(body, variant)

    monkeypatch.setattr(aws.client("sagemaker-runtime"), "invoke_endpoint", invoke_endpoint)
    event = _post('{"features": [1, 2, 3, 4]}') | {"requestContext": {"requestId": request_id}}

    response = inference.handler(event, FakeLambdaContext())

    stored = _stored(tables, request_id)
    if prediction is None:
        assert response["statusCode"] == 502
        assert _error(response) == "model invocation failed"
        assert stored is None
        return
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["prediction"] == (
        prediction if isinstance(prediction, str) else float(prediction)
    )
    assert stored is not None
    assert stored["variant"] == variant
    if isinstance(prediction, str):
        assert stored["prediction"] == prediction
    else:
        assert stored["prediction"] == (0 if abs(prediction) < 1e-130 else Decimal(repr(float(prediction))))
