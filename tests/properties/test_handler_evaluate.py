"""evaluate, property-based: any event shape gives a defined, strict-JSON result; it never raises.

The function's only documented exception is ConfigError (bad configuration). Whatever the event holds — a huge int,
NaN, a lone surrogate, a list where an object belongs — the result is `passed` with a finite `value`, or
`passed: false` with `value: null` and a reason.
"""

from __future__ import annotations

import json
import math
from typing import Any

import evaluate
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.handlers.fakes import FakeLambdaContext
from tests.handlers.strategies import HOSTILE_SCALARS, HOSTILE_VALUES, mutated

pytestmark = pytest.mark.usefixtures("handler_env")

METRIC = "validation:auc"  # METRIC_NAME in the fake environment
THRESHOLD = 0.85  # METRIC_THRESHOLD
REASONS = {f"metric {METRIC} missing from training job metrics", f"metric {METRIC} is not a finite number"}


def _training_job(value: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": "mlp-train",
        "FinalMetricDataList": [
            {"MetricName": "train:auc", "Value": 0.99},
            {"MetricName": METRIC, "Value": value, "Timestamp": "2026-11-21T10:00:00Z"},
        ],
    }


def _as_finite_float(value: Any) -> float | None:
    """The oracle: what a metric value means, computed independently of evaluate's own code."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > 2**1023 * (2 - 2**-52):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _assert_defined(result: dict[str, Any]) -> None:
    json.dumps(result, allow_nan=False)  # a Step Functions payload: strict JSON
    assert result["metric"] == METRIC
    assert result["threshold"] == THRESHOLD
    assert isinstance(result["passed"], bool)
    if result["value"] is None:
        assert result["passed"] is False
        assert set(result) == {"passed", "metric", "threshold", "value", "reason"}
        assert result["reason"] in REASONS
    else:
        assert set(result) == {"passed", "metric", "threshold", "value"}
        assert isinstance(result["value"], float)
        assert math.isfinite(result["value"])


_METRICS = HOSTILE_SCALARS.map(lambda value: {"metrics": {METRIC: value}})
EVENTS = (
    HOSTILE_VALUES
    | HOSTILE_SCALARS.map(_training_job)
    | _METRICS
    | HOSTILE_SCALARS.map(_training_job).flatmap(mutated)
    | _METRICS.flatmap(mutated)
)


@given(event=EVENTS)
def test_any_event_gives_a_defined_result_and_never_raises(event: Any) -> None:
    _assert_defined(evaluate.handler(event, FakeLambdaContext()))


@given(value=HOSTILE_SCALARS, shape=st.sampled_from(["metrics", "training_job"]))
def test_a_reported_metric_passes_exactly_when_it_is_a_finite_number_at_or_above_the_threshold(
    value: Any, shape: str
) -> None:
    event = {"metrics": {METRIC: value}} if shape == "metrics" else _training_job(value)

    result = evaluate.handler(event, FakeLambdaContext())

    _assert_defined(result)
    expected = _as_finite_float(value)
    assert result["value"] == expected
    assert result["passed"] is (expected is not None and expected >= THRESHOLD)
    if expected is None:
        assert result["reason"] == f"metric {METRIC} is not a finite number"
