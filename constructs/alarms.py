"""CloudWatch alarms as data: each construct describes its alarms as :class:`AlarmSpec` values, one helper builds them.

A spec says what is measured, when it breaches and what an operator checks first (its description). Building every
alarm through :func:`build_alarm` keeps names, actions and missing-data handling uniform, and lets a test (or the
monitoring construct) sweep every spec of a stack.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Naming
from constructs.settings import Settings


class AlarmsSettings(Settings):
    """Alarm thresholds (ARCHITECTURE §6, §7).

    Upper bounds: what the measured thing can reach (an invocation times out at 60 s, API Gateway at 29 s, a record
    lives at most 7 days in the stream); a threshold beyond them could never fire.
    """

    model_latency_p99_ms: int = Field(1000, ge=1, le=60_000)  # per variant, phase two
    variant_5xx_errors: int = Field(5, ge=1, le=1_000_000)  # per variant per 5 minutes, phase two
    api_5xx_errors: int = Field(5, ge=1, le=1_000_000)  # per 5 minutes
    api_latency_p99_ms: int = Field(2000, ge=1, le=29_000)
    function_errors: int = Field(1, ge=1, le=1_000_000)  # per function per 5 minutes
    iterator_age_ms: int = Field(60_000, ge=1000, le=604_800_000)  # Kinesis consumer falling behind
    data_drift: float = Field(3.0, gt=0, le=1_000)  # DataDrift metric (standard deviations)


Comparison = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data."""

    id: str  # construct id, unique within the owning construct
    name: str  # naming component: the alarm is called {project}-{name}-{env}
    description: str  # what breached, and what to check first
    namespace: str
    metric_name: str
    dimensions: dict[str, str]
    threshold: float
    comparison: Comparison
    period: int  # seconds
    evaluation_periods: int
    statistic: str | None = None  # Sum, Average, Maximum ...; or
    extended_statistic: str | None = None  # a percentile such as p99
    datapoints_to_alarm: int | None = None  # M of N; None = all evaluation periods
    treat_missing_data: str = "notBreaching"  # no traffic is not an incident
    extra: dict[str, Any] = field(default_factory=dict)  # further aws_cloudwatch_metric_alarm arguments


def build_alarm(
    scope: Construct, naming: Naming, spec: AlarmSpec, *, alarm_actions: list[str], ok_actions: list[str]
) -> Any:
    """The ``aws_cloudwatch_metric_alarm`` of ``spec``, notifying ``alarm_actions`` and, on recovery, ``ok_actions``."""
    if (spec.statistic is None) == (spec.extended_statistic is None):
        raise ValueError(f"alarm {spec.id}: set exactly one of statistic and extended_statistic")
    return aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
        scope,
        spec.id,
        alarm_name=naming.name(spec.name),
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=spec.dimensions,
        statistic=spec.statistic,
        extended_statistic=spec.extended_statistic,
        period=spec.period,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        threshold=spec.threshold,
        comparison_operator=spec.comparison,
        treat_missing_data=spec.treat_missing_data,
        alarm_actions=alarm_actions,
        ok_actions=ok_actions,
        **spec.extra,
    )
