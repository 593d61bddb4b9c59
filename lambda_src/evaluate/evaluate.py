"""Model evaluation task of the training workflow: compare the training job's metric with the threshold.

Input is either the DescribeTrainingJob shape (`FinalMetricDataList`) or `{"metrics": {name: value}}`. A missing,
non-numeric or non-finite metric (an int too large for a float included) is an explicit `passed: false` with a
reason, never an exception, whatever the event's shape, so the workflow's Choice state can route it. Only a bad
configuration raises (ConfigError, which the workflow's Catch routes to NotifyFailure).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mlp_common.features import finite_number
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.settings import env_choice, env_float, env_str

_ABSENT = object()

logger = Logger("evaluate")


@dataclass(frozen=True)
class Settings:
    metric_name: str
    threshold: float
    goal: str  # "maximize" (value >= threshold passes) or "minimize" (value <= threshold passes)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            metric_name=env_str("METRIC_NAME"),
            threshold=env_float("METRIC_THRESHOLD"),
            goal=env_choice("METRIC_GOAL", ("maximize", "minimize"), "maximize"),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


def metric_value(event: Any, name: str) -> Any:
    """The raw value reported for `name`, or _ABSENT. The last entry wins if a list names a metric twice."""
    if not isinstance(event, dict):
        return _ABSENT
    found: Any = _ABSENT
    entries = event.get("FinalMetricDataList")
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and entry.get("MetricName") == name:
                found = entry.get("Value")
    metrics = event.get("metrics")
    if found is _ABSENT and isinstance(metrics, dict) and name in metrics:
        found = metrics[name]
    return found


def evaluate(event: Any, cfg: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {"passed": False, "metric": cfg.metric_name, "threshold": cfg.threshold, "value": None}
    value = metric_value(event, cfg.metric_name)
    if value is _ABSENT:
        result["reason"] = f"metric {cfg.metric_name} missing from training job metrics"
        return result
    value = finite_number(value)
    if value is None:
        result["reason"] = f"metric {cfg.metric_name} is not a finite number"
        return result
    passed = value >= cfg.threshold if cfg.goal == "maximize" else value <= cfg.threshold
    return {**result, "passed": passed, "value": value}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    result = evaluate(event, settings())
    training_job = event.get("TrainingJobName") if isinstance(event, dict) else None
    logger.info("model evaluated", training_job=training_job, **result)
    return result
