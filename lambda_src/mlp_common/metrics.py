"""CloudWatch Embedded Metric Format (EMF): metrics as structured log lines, extracted by CloudWatch Logs.

No PutMetricData call on the hot path: printing the line is the whole cost.
Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The units CloudWatch accepts; anything else makes CloudWatch drop the metric silently.
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
MAX_METRICS = 100  # per EMF document
MAX_DIMENSIONS = 30  # per dimension set
MAX_VALUES = 100  # per metric (an array of values is aggregated by CloudWatch)


@dataclass(frozen=True)
class Metric:
    """One metric: a single value or up to 100 values recorded in the same line."""

    name: str
    value: float | Sequence[float]
    unit: str = "None"


def metric_document(
    namespace: str,
    metrics: Sequence[Metric],
    dimensions: Mapping[str, str],
    *,
    properties: Mapping[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """Build one EMF document; raises ValueError on anything CloudWatch would reject or silently drop."""
    if not namespace:
        raise ValueError("EMF namespace must be non-empty")
    if not 1 <= len(metrics) <= MAX_METRICS:
        raise ValueError(f"an EMF document holds 1..{MAX_METRICS} metrics, got {len(metrics)}")
    document = _dimensions_and_properties(dimensions, properties or {})
    definitions = []
    for metric in metrics:
        if metric.unit not in UNITS:
            raise ValueError(f"metric {metric.name}: unknown CloudWatch unit {metric.unit!r}")
        if not metric.name or metric.name in document:
            raise ValueError(f"metric name {metric.name!r} is empty or collides with a dimension/property")
        document[metric.name] = _value(metric)
        definitions.append({"Name": metric.name, "Unit": metric.unit})
    document["_aws"] = {
        "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [list(dimensions)], "Metrics": definitions}],
    }
    return document


def _dimensions_and_properties(dimensions: Mapping[str, str], properties: Mapping[str, Any]) -> dict[str, Any]:
    """The document's top-level keys before the metrics: dimension values, then properties that collide with none."""
    if len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"an EMF dimension set holds at most {MAX_DIMENSIONS} dimensions")
    document: dict[str, Any] = {}
    for key, value in dimensions.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"EMF dimension {key} must be a non-empty string")
        document[key] = value
    for key, value in properties.items():
        if key in document or key == "_aws":
            raise ValueError(f"EMF property {key} collides with a dimension")
        document[key] = value
    return document


def emit(
    namespace: str,
    metrics: Sequence[Metric],
    dimensions: Mapping[str, str],
    *,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Print one EMF line on stdout and return the document."""
    document = metric_document(namespace, metrics, dimensions, properties=properties)
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    return document


def _value(metric: Metric) -> float | list[float]:
    values = [metric.value] if isinstance(metric.value, int | float) else list(metric.value)
    if not 1 <= len(values) <= MAX_VALUES:
        raise ValueError(f"metric {metric.name}: 1..{MAX_VALUES} values, got {len(values)}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {metric.name}: values must be finite numbers")
    return float(values[0]) if isinstance(metric.value, int | float) else [float(v) for v in values]
