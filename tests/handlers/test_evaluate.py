"""evaluate: both input shapes, goal direction, explicit failures instead of exceptions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import evaluate
import pytest
from mlp_common.settings import ConfigError

from tests.handlers.fakes import FakeLambdaContext, log_lines


def _training_job(*metrics: tuple[str, Any]) -> dict[str, Any]:
    return {
        "TrainingJobName": "mlp-train-2026-11-21",
        "TrainingJobStatus": "Completed",
        "FinalMetricDataList": [
            {"MetricName": name, "Value": value, "Timestamp": "2026-11-21T10:00:00Z"} for name, value in metrics
        ],
    }


@pytest.mark.parametrize(
    ("event", "passed", "value"),
    [
        (_training_job(("train:auc", 0.99), ("validation:auc", 0.91)), True, 0.91),
        (_training_job(("validation:auc", 0.85)), True, 0.85),  # threshold itself passes
        (_training_job(("validation:auc", 0.84)), False, 0.84),
        (_training_job(("validation:auc", 0.5), ("validation:auc", 0.9)), True, 0.9),  # last report wins
        ({"metrics": {"validation:auc": 0.9}}, True, 0.9),
        ({"metrics": {"validation:auc": 1}}, True, 1.0),
        ({"metrics": {"validation:auc": 0.2}}, False, 0.2),
    ],
)
def test_metric_against_threshold(
    event: dict[str, Any], passed: bool, value: float, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    result = evaluate.handler(event, lambda_context)
    assert result == {"passed": passed, "metric": "validation:auc", "threshold": 0.85, "value": value}
    [line] = log_lines(stdout_json())
    assert line["message"] == "model evaluated"
    assert line["passed"] is passed


def test_minimize_goal_inverts_the_comparison(monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> None:
    monkeypatch.setenv("METRIC_NAME", "validation:rmse")
    monkeypatch.setenv("METRIC_THRESHOLD", "0.3")
    monkeypatch.setenv("METRIC_GOAL", "minimize")
    assert evaluate.handler({"metrics": {"validation:rmse": 0.25}}, lambda_context)["passed"] is True
    assert evaluate.handler({"metrics": {"validation:rmse": 0.35}}, lambda_context)["passed"] is False


@pytest.mark.parametrize(
    "event", [_training_job(("train:auc", 0.99)), {"metrics": {}}, {"metrics": None}, {}, {"FinalMetricDataList": 3}]
)
def test_missing_metric_is_an_explicit_failure(event: Any, lambda_context: FakeLambdaContext) -> None:
    assert evaluate.handler(event, lambda_context) == {
        "passed": False,
        "metric": "validation:auc",
        "threshold": 0.85,
        "value": None,
        "reason": "metric validation:auc missing from training job metrics",
    }


@pytest.mark.parametrize("value", ["0.9", None, True, math.nan, math.inf, [0.9], {"v": 1}])
def test_non_numeric_metric_is_an_explicit_failure(value: Any, lambda_context: FakeLambdaContext) -> None:
    result = evaluate.handler({"metrics": {"validation:auc": value}}, lambda_context)
    assert result["passed"] is False
    assert result["value"] is None
    assert result["reason"] == "metric validation:auc is not a finite number"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("METRIC_THRESHOLD", None, "METRIC_THRESHOLD is required"),
        ("METRIC_THRESHOLD", "high", "METRIC_THRESHOLD must be a number"),
        ("METRIC_NAME", None, "METRIC_NAME is required"),
        ("METRIC_GOAL", "maximise", "METRIC_GOAL must be one of maximize, minimize"),
    ],
)
def test_bad_configuration_raises_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str | None, message: str, lambda_context: Any
) -> None:
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        evaluate.handler({"metrics": {"validation:auc": 0.9}}, lambda_context)


@pytest.mark.parametrize("value", [10**400, -(10**400), 2**1024, 1e308 * 10])
@pytest.mark.parametrize("shape", ["metrics", "training_job"])
def test_metric_too_large_for_a_float_is_an_explicit_failure(
    value: Any, shape: str, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    event = {"metrics": {"validation:auc": value}} if shape == "metrics" else _training_job(("validation:auc", value))

    result = evaluate.handler(event, lambda_context)

    assert result == {
        "passed": False,
        "metric": "validation:auc",
        "threshold": 0.85,
        "value": None,
        "reason": "metric validation:auc is not a finite number",
    }
    [line] = log_lines(stdout_json())
    assert (line["message"], line["passed"]) == ("model evaluated", False)


def test_largest_finite_int_metric_is_compared_as_a_float(lambda_context: FakeLambdaContext) -> None:
    result = evaluate.handler({"metrics": {"validation:auc": 10**308}}, lambda_context)
    assert (result["passed"], result["value"]) == (True, 1e308)


def test_an_unloggable_event_part_does_not_fail_the_task(
    lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    # json.dumps refuses an int of more than 4300 digits (and str() does too): the log line must still be written.
    event = {**_training_job(("validation:auc", 0.9)), "TrainingJobName": 10**5000}

    result = evaluate.handler(event, lambda_context)

    assert result["passed"] is True
    [line] = log_lines(stdout_json())
    assert (line["message"], line["training_job"], line["value"]) == ("model evaluated", "<unloggable int>", 0.9)
