"""SageMaker runtime invocation and parsing of the model's answer (XGBoost built-in container formats)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlp_common.aws import error_code
from mlp_common.features import MAX_ABS_FEATURE, loads_strict, to_csv

# Errors that mean "the model/endpoint failed this request" (→ 502) vs "slow down" (→ 429). Any other error code is
# ours (permissions, configuration) and surfaces as an unexpected error.
_FAILED = frozenset(
    {
        "ModelError",
        "ValidationError",
        "ModelNotReadyException",
        "InternalFailure",
        "InternalDependencyException",
        "ServiceUnavailable",
    }
)
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
MAX_LABEL_LENGTH = 1024


class ModelInvocationError(Exception):
    """The model call failed; `throttled` tells the caller to answer 429 instead of 502."""

    def __init__(self, detail: str, *, throttled: bool = False) -> None:
        super().__init__(detail)
        self.throttled = throttled


@dataclass(frozen=True)
class Prediction:
    value: float | str
    variant: str
    latency_ms: float


def invoke(runtime: Any, endpoint_name: str, features: list[float]) -> Prediction:
    """Invoke the endpoint with one CSV row; the answering production variant comes back with the result."""
    started = time.perf_counter()
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="text/csv",
            Accept="application/json",
            Body=to_csv(features),
        )
        body = response["Body"].read()
    except ClientError as err:
        code = error_code(err)
        if code in _THROTTLED:
            raise ModelInvocationError(f"throttled: {code}", throttled=True) from err
        if code in _FAILED:
            raise ModelInvocationError(f"model error: {code}") from err
        raise
    except BotoCoreError as err:  # timeouts, connection errors
        raise ModelInvocationError(f"transport error: {type(err).__name__}") from err
    latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    return Prediction(
        value=parse_prediction(body),
        variant=str(response.get("InvokedProductionVariant") or "unknown"),
        latency_ms=latency_ms,
    )


def parse_prediction(body: bytes | str) -> float | str:
    """Accept `0.73`, `"label"`, `{"predictions": [{"score": 0.73}]}` or `{"predictions": [0.73]}`.

    Anything else is the model's failure, not the caller's: invalid UTF-8, a lone surrogate (a label no UTF-8 writer
    can store), a number DynamoDB cannot store (|x| > 1e125), NaN/Infinity, or another shape.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = loads_strict(text.strip())
    except ValueError:  # UnicodeDecodeError and LoneSurrogateError included
        raise ModelInvocationError("unparseable model response") from None
    if isinstance(value, dict):
        predictions = value.get("predictions")
        if isinstance(predictions, list) and predictions:
            first = predictions[0]
            value = first.get("score") if isinstance(first, dict) else first
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = _storable(value)
        if number is not None:
            return number
    if isinstance(value, str) and 0 < len(value) <= MAX_LABEL_LENGTH:
        return value
    raise ModelInvocationError("unparseable model response")


def _storable(value: int | float) -> float | None:
    """The answer as a float if it is finite and DynamoDB can store it, else None (a JSON int may exceed a float)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_ABS_FEATURE else None
