"""SageMaker runtime invocation and parsing of the model's answer (XGBoost built-in container formats)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlp_common.aws import error_code
from mlp_common.features import (
    MAX_ABS_FEATURE,
    FeatureError,
    LoneSurrogateError,
    loads_strict,
    parse_csv_features,
    to_csv,
)

# Errors that mean "the model/endpoint failed this request" (→ 502) vs "slow down" (→ 429). Any other error code is
# ours (permissions, configuration) and surfaces as an unexpected error.
# Only ModelError (the container refused or crashed on this body) may be caused by the rows sent, so a smaller request
# may succeed. The others are the endpoint's state or our configuration (ValidationError: no such endpoint), whatever
# was sent: splitting would only add calls.
_REQUEST_FAILED = frozenset({"ModelError"})
_ENDPOINT_FAILED = frozenset(
    {
        "ValidationError",
        "ModelNotReadyException",
        "InternalFailure",
        "InternalDependencyException",
        "ServiceUnavailable",
    }
)
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
MAX_LABEL_LENGTH = 1024
# InvokeEndpoint refuses a Body over 6 MiB (6291456 bytes: botocore's service model, the SageMaker quota), and the
# XGBoost container's model server documents 5 MiB of request data: a multi-row request stays within 5 MiB.
MAX_BATCH_BYTES = 5 * 1024 * 1024
_UNPARSEABLE = "unparseable model response"


class ModelInvocationError(Exception):
    """The model call failed; `throttled` tells the caller to answer 429 instead of 502.

    `request_specific`: the failure may come from what was sent (a model error, an answer that cannot be read or that
    does not hold one prediction per row), so the same rows in smaller requests may succeed. Throttling, transport and
    endpoint-state failures are not: splitting the request would only add calls.
    """

    def __init__(self, detail: str, *, throttled: bool = False, request_specific: bool = False) -> None:
        super().__init__(detail)
        self.throttled = throttled
        self.request_specific = request_specific


@dataclass(frozen=True)
class Prediction:
    value: float | str
    variant: str
    latency_ms: float


@dataclass(frozen=True)
class BatchPrediction:
    """The answer to one multi-row request: `values[i]` is row i's prediction, None where that row's answer cannot be
    stored (the other rows keep theirs). `variant` answered every row of the request."""

    values: list[float | str | None]
    variant: str
    latency_ms: float


def invoke(runtime: Any, endpoint_name: str, features: list[float]) -> Prediction:
    """Invoke the endpoint with one CSV row; the answering production variant comes back with the result."""
    body, variant, latency_ms = _call(runtime, endpoint_name, to_csv(features))
    return Prediction(value=parse_prediction(body), variant=variant, latency_ms=latency_ms)


def invoke_rows(runtime: Any, endpoint_name: str, rows: Sequence[str]) -> BatchPrediction:
    """Invoke the endpoint once with several CSV rows (`features.to_csv` lines), one line per row.

    The built-in XGBoost container splits the body on newlines into one matrix and answers its predictions in row
    order, so the i-th prediction is the i-th row's. An answer whose count differs from the rows sent raises (no
    score is ever given to the wrong row).
    """
    if not rows:
        raise ValueError("invoke_rows needs at least one row")
    body, variant, latency_ms = _call(runtime, endpoint_name, "\n".join(rows))
    return BatchPrediction(values=parse_predictions(body, len(rows)), variant=variant, latency_ms=latency_ms)


def _call(runtime: Any, endpoint_name: str, body: str) -> tuple[bytes, str, float]:
    """One InvokeEndpoint call: (answer body, answering variant, latency ms); AWS failures as ModelInvocationError."""
    started = time.perf_counter()
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType="text/csv", Accept="application/json", Body=body
        )
        answer = response["Body"].read()
    except ClientError as err:
        code = error_code(err)
        if code in _THROTTLED:
            raise ModelInvocationError(f"throttled: {code}", throttled=True) from err
        if code in _REQUEST_FAILED or code in _ENDPOINT_FAILED:
            raise ModelInvocationError(f"model error: {code}", request_specific=code in _REQUEST_FAILED) from err
        raise
    except BotoCoreError as err:  # timeouts, connection errors
        raise ModelInvocationError(f"transport error: {type(err).__name__}") from err
    latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    return answer, str(response.get("InvokedProductionVariant") or "unknown"), latency_ms


def parse_prediction(body: bytes | str) -> float | str:
    """Accept `0.73`, `"label"`, `[0.73]`, `{"predictions": [{"score": 0.73}]}` or `{"predictions": [0.73]}`.

    Anything else is the model's failure, not the caller's: invalid UTF-8, a lone surrogate (a label no UTF-8 writer
    can store), a number DynamoDB cannot store (|x| > 1e125), NaN/Infinity, or another shape.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = loads_strict(text.strip())
    except ValueError:  # UnicodeDecodeError and LoneSurrogateError included
        raise ModelInvocationError(_UNPARSEABLE) from None
    if isinstance(value, list) and len(value) == 1:  # the XGBoost container's JSON answer to one CSV row
        value = value[0]
    if isinstance(value, dict):
        predictions = value.get("predictions")
        if isinstance(predictions, list) and predictions:
            first = predictions[0]
            value = first.get("score") if isinstance(first, dict) else first
    result = _storable_answer(value)
    if result is None:
        raise ModelInvocationError(_UNPARSEABLE)
    return result


def parse_predictions(body: bytes | str, rows: int) -> list[float | str | None]:
    """The predictions of a `rows`-row request, in row order; None for a row whose own answer cannot be stored.

    Accepted shapes, each holding exactly `rows` entries:
    - JSON: `[0.1, 0.2]` (the container's application/json answer), `{"predictions": [{"score": 0.1}, ...]}` or
      `{"predictions": [0.1, ...]}` (the shapes parse_prediction accepts), or one bare number or label for one row;
    - CSV: one prediction per line (batch transform's text/csv), or one line of comma-separated predictions (the
      container's real-time text/csv answer).
    An entry is a finite number within DynamoDB's range or a label of 1 to 1024 characters, else None. The whole
    request fails (ModelInvocationError, request_specific) on a count mismatch or when the body cannot be read at all
    (invalid UTF-8, a lone surrogate anywhere in a JSON answer, another JSON shape).
    """
    try:
        text = (body.decode("utf-8") if isinstance(body, bytes) else body).strip()
    except UnicodeDecodeError:
        raise ModelInvocationError(_UNPARSEABLE, request_specific=True) from None
    try:
        answer = loads_strict(text)
    except LoneSurrogateError:  # JSON, but no UTF-8 writer can store it
        raise ModelInvocationError(_UNPARSEABLE, request_specific=True) from None
    except ValueError:  # not JSON (NaN/Infinity included): read as CSV
        values: list[float | str | None] = [_csv_value(token) for token in _csv_tokens(text, rows)]
    else:
        values = [_storable_answer(entry) for entry in _json_entries(answer)]
    if len(values) != rows:
        raise ModelInvocationError(f"model answered {len(values)} predictions for {rows} rows", request_specific=True)
    return values


def _json_entries(answer: Any) -> list[Any]:
    if isinstance(answer, dict):
        answer = answer.get("predictions")
        if not isinstance(answer, list):
            raise ModelInvocationError(_UNPARSEABLE, request_specific=True)
    if isinstance(answer, list):
        return [entry.get("score") if isinstance(entry, dict) else entry for entry in answer]
    if isinstance(answer, str) or (isinstance(answer, int | float) and not isinstance(answer, bool)):
        return [answer]
    raise ModelInvocationError(_UNPARSEABLE, request_specific=True)


def _csv_tokens(text: str, rows: int) -> list[str]:
    lines = [line.strip() for line in text.split("\n")]
    if len(lines) == 1 and rows > 1:
        return lines[0].split(",")
    return lines


def _csv_value(token: str) -> float | None:
    try:
        return parse_csv_features(token, 1)[0]  # strict: one finite number within DynamoDB's range
    except FeatureError:
        return None


def _storable_answer(value: Any) -> float | str | None:
    """A prediction as stored: a number DynamoDB can hold, or a label of 1..1024 characters; None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _storable(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_LABEL_LENGTH:
        return value
    return None


def _storable(value: int | float) -> float | None:
    """The answer as a float if it is finite and DynamoDB can store it, else None (a JSON int may exceed a float)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_ABS_FEATURE else None
