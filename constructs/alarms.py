"""CloudWatch alarms as data: each construct describes its alarms as :class:`AlarmSpec` values, one helper builds them.

A spec says what is measured, when it breaches, which pipeline stage it belongs to (the dashboard's rows) and what an
operator checks first (its description). Building every alarm through :func:`build_alarm` keeps names, actions and
missing-data handling uniform, and lets a test (or the monitoring construct) sweep every spec of a stack.

Three shapes, all from the same fields:

- one metric (``namespace``, ``metric_name``, ``dimensions``, a statistic and a fixed threshold);
- one metric summed over several dimension sets (``sum_over``), for metrics AWS only publishes per operation, such as
  DynamoDB's ``SystemErrors``: a metric-math alarm on ``SUM(METRICS())``;
- anomaly detection (``anomaly_band``): the alarm compares the metric with CloudWatch's expected band of that many
  standard deviations instead of a fixed threshold.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Naming
from constructs.settings import Settings

# The pipeline's stages, in pipeline order: the dashboard's rows (ARCHITECTURE §7).
Stage = Literal["ingest", "data", "training", "serving", "api", "stream"]
STAGES: tuple[Stage, ...] = ("ingest", "data", "training", "serving", "api", "stream")

# CloudWatch: "You can include up to 10 metrics in an alarm that is based on a metric math expression" (PutMetricAlarm,
# Metrics); a sum over more dimension sets would be refused at apply time.
MAX_ALARM_METRICS = 10


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
    # A function whose slowest invocation takes this share of its timeout is about to time out.
    function_duration_timeout_percent: int = Field(80, ge=10, le=99)
    iterator_age_ms: int = Field(60_000, ge=1000, le=604_800_000)  # Kinesis consumer falling behind
    data_drift: float = Field(3.0, gt=0, le=1_000)  # DataDrift metric (standard deviations)
    waf_blocked_requests: int = Field(100, ge=1, le=100_000_000)  # per 5 minutes: a spike of blocked requests
    # Anomaly detection on the API's request count: the expected band's width in standard deviations.
    request_count_anomaly_band: float = Field(3.0, gt=0, le=100)


Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    # anomaly detection only: against the band rather than a fixed threshold
    "GreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
]
BAND_COMPARISONS = frozenset(
    {"GreaterThanUpperThreshold", "LessThanLowerThreshold", "LessThanLowerOrGreaterThanUpperThreshold"}
)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data."""

    id: str  # construct id, unique within the stack's alarms
    name: str  # naming component: the alarm is called {project}-{name}-{env}
    description: str  # what breached, and what to check first
    stage: Stage  # the pipeline stage it watches (the dashboard row)
    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]
    threshold: float  # ignored (None in the alarm) for anomaly detection
    comparison: Comparison
    period: int  # seconds
    evaluation_periods: int
    statistic: str | None = None  # Sum, Average, Maximum ...; or
    extended_statistic: str | None = None  # a percentile such as p99
    datapoints_to_alarm: int | None = None  # M of N; None = all evaluation periods
    treat_missing_data: str = "notBreaching"  # no traffic is not an incident
    sum_over: tuple[Mapping[str, str], ...] = ()  # extra dimensions per summed metric (e.g. each Operation)
    anomaly_band: float | None = None  # standard deviations of the expected band (anomaly detection)
    extra: dict[str, Any] = field(default_factory=dict)  # further aws_cloudwatch_metric_alarm arguments

    @property
    def stat(self) -> str:
        """The statistic as CloudWatch's metric queries and dashboards spell it (Sum, p99 ...)."""
        return self.statistic or self.extended_statistic or ""

    @property
    def metric_dimensions(self) -> list[dict[str, str]]:
        """The dimensions of every metric the alarm reads (one set unless ``sum_over``)."""
        if not self.sum_over:
            return [dict(self.dimensions)]
        return [{**self.dimensions, **extra} for extra in self.sum_over]


def spec_problems(spec: AlarmSpec) -> list[str]:
    """What CloudWatch would refuse (or silently misread) in ``spec``."""
    problems = []
    if (spec.statistic is None) == (spec.extended_statistic is None):
        problems.append("set exactly one of statistic and extended_statistic")
    if spec.sum_over and spec.anomaly_band is not None:
        problems.append("a sum over dimension sets cannot also be an anomaly-detection alarm")
    if len(spec.sum_over) > MAX_ALARM_METRICS:
        problems.append(f"sums {len(spec.sum_over)} metrics; a metric-math alarm reads at most {MAX_ALARM_METRICS}")
    if (spec.anomaly_band is not None) != (spec.comparison in BAND_COMPARISONS):
        problems.append("anomaly detection needs a band comparison, and a band comparison needs anomaly_band")
    if spec.period < 60 or spec.period % 60:
        problems.append(f"period {spec.period} s: alarms on standard-resolution metrics need a multiple of 60 s")
    if spec.datapoints_to_alarm is not None and not 1 <= spec.datapoints_to_alarm <= spec.evaluation_periods:
        problems.append("datapoints_to_alarm must be between 1 and evaluation_periods")
    if spec.period * spec.evaluation_periods > 86_400:
        problems.append("period x evaluation_periods must not exceed one day")
    return [f"alarm {spec.id}: {p}" for p in problems]


def build_alarm(
    scope: Construct, naming: Naming, spec: AlarmSpec, *, alarm_actions: list[str], ok_actions: list[str]
) -> Any:
    """The ``aws_cloudwatch_metric_alarm`` of ``spec``, notifying ``alarm_actions`` and, on recovery, ``ok_actions``."""
    problems = spec_problems(spec)
    if problems:
        raise ValueError("; ".join(problems))
    cw = aws.cloudwatch_metric_alarm
    common: dict[str, Any] = {
        "alarm_name": naming.name(spec.name),
        "alarm_description": spec.description,
        "evaluation_periods": spec.evaluation_periods,
        "datapoints_to_alarm": spec.datapoints_to_alarm,
        "comparison_operator": spec.comparison,
        "treat_missing_data": spec.treat_missing_data,
        "alarm_actions": alarm_actions,
        "ok_actions": ok_actions,
        **spec.extra,
    }
    if not spec.sum_over and spec.anomaly_band is None:
        return cw.CloudwatchMetricAlarm(
            scope,
            spec.id,
            **common,
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions=dict(spec.dimensions),
            statistic=spec.statistic,
            extended_statistic=spec.extended_statistic,
            period=spec.period,
            threshold=spec.threshold,
        )
    metrics = [
        cw.CloudwatchMetricAlarmMetricQuery(
            id=f"m{index}",
            return_data=spec.anomaly_band is not None,
            metric=cw.CloudwatchMetricAlarmMetricQueryMetric(
                namespace=spec.namespace,
                metric_name=spec.metric_name,
                dimensions=dimensions,
                period=spec.period,
                stat=spec.stat,
            ),
        )
        for index, dimensions in enumerate(spec.metric_dimensions, start=1)
    ]
    if spec.anomaly_band is not None:
        band = cw.CloudwatchMetricAlarmMetricQuery(
            id="band",
            expression=f"ANOMALY_DETECTION_BAND(m1, {spec.anomaly_band:g})",
            label=f"{spec.metric_name} (expected)",
            return_data=True,
        )
        queries = [*metrics, band]
        return cw.CloudwatchMetricAlarm(scope, spec.id, **common, metric_query=queries, threshold_metric_id="band")
    total = cw.CloudwatchMetricAlarmMetricQuery(
        id="total", expression="SUM(METRICS())", label=f"{spec.metric_name} (sum)", return_data=True
    )
    return cw.CloudwatchMetricAlarm(scope, spec.id, **common, metric_query=[*metrics, total], threshold=spec.threshold)


def any_in_five_minutes(
    name: str,
    description: str,
    stage: Stage,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    **more: Any,
) -> AlarmSpec:
    """One occurrence is an incident: the Sum of ``metric_name`` over 5 minutes above 0 (throttles, failures, errors).

    ``name`` is both the construct id and the naming component; ``more`` sets further :class:`AlarmSpec` fields.
    """
    return AlarmSpec(
        id=name,
        name=name,
        description=description,
        stage=stage,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        statistic="Sum",
        threshold=0,
        comparison="GreaterThanThreshold",
        period=300,
        evaluation_periods=1,
        **more,
    )


def queue_depth_alarm(id: str, name: str, stage: Stage, queue_name: str, description: str) -> AlarmSpec:
    """A message waiting in a dead-letter or on-failure queue: something failed every retry (depth > 0)."""
    return AlarmSpec(
        id=id,
        name=name,
        description=description,
        stage=stage,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        threshold=0,
        comparison="GreaterThanThreshold",
        period=300,
        evaluation_periods=1,
    )
