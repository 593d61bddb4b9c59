"""Alarm → shift endpoint traffic away from the failing production variant.

Invoked directly as a CloudWatch alarm Lambda action (`alarmData`) or by an EventBridge "CloudWatch Alarm State
Change" rule (`detail`). Only acts on ALARM, only on this environment's endpoint (ENDPOINT_NAME), and only when
another variant can take the traffic. Weights are changed on the endpoint at runtime, so Terraform sees no drift.
An event with a part of the wrong type is refused (`noop`, ERROR log) before any AWS call: it never raises.

SageMaker refuses a weight change while the endpoint is not InService ("Cannot update in-progress endpoint"), and
a latency alarm fires exactly when autoscaling or a deployment is updating it. CloudWatch invokes an alarm action
only on a state change, so a refused drain would never be tried again: the function waits (polling DescribeEndpoint
every ENDPOINT_POLL_SECONDS) until the endpoint is InService, re-plans from what it then describes, and updates.
It waits at most ENDPOINT_WAIT_SECONDS, and never past the invocation's remaining time minus a safety margin; then it
raises EndpointBusyError, so Lambda's asynchronous retries run it again and, after the last one, the event lands in
the function's dead-letter queue.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from mlp_common import aws
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.settings import env_flag, env_int, env_str

logger = Logger("traffic_shift")

# The clock and the pause between polls; tests replace both so that waiting takes no time.
sleep = time.sleep
monotonic = time.monotonic

IN_SERVICE = "InService"
# Statuses an endpoint leaves by itself; any other status but InService (Failed, OutOfService, Deleting, one AWS adds
# later) is not worth waiting for: nothing can be shifted onto it safely.
TRANSIENT_STATUSES = frozenset({"Updating", "SystemUpdating", "Creating", "RollingBack"})
# Kept free at the end of the invocation for the last DescribeEndpoint + update and the log lines.
SAFETY_MARGIN_SECONDS = 10.0
# What SageMaker says when an update races another one ("Cannot update in-progress endpoint ...").
_BUSY_MESSAGE = re.compile(r"in[- ]progress|being updated|currently updating", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    endpoints_enabled: bool
    endpoint_name: str
    wait_seconds: int = 600  # longest wait for InService within one invocation (ENDPOINT_WAIT_SECONDS)
    poll_seconds: int = 15  # pause between two DescribeEndpoint calls while waiting (ENDPOINT_POLL_SECONDS)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            endpoints_enabled=env_flag("ENDPOINTS_ENABLED"),
            endpoint_name=env_str("ENDPOINT_NAME"),
            wait_seconds=env_int("ENDPOINT_WAIT_SECONDS", 600, minimum=0),
            poll_seconds=env_int("ENDPOINT_POLL_SECONDS", 15, minimum=1),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class AlarmTarget:
    alarm_name: str
    state: str
    endpoint_name: str | None
    variant_name: str | None


_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


class AlarmEventError(ValueError):
    """The event is not a CloudWatch alarm event: a part has the wrong type. `str(err)` names the part."""


class EndpointBusyError(RuntimeError):
    """The endpoint stayed busy (not InService) for the whole wait: raised so the asynchronous invocation retries."""

    def __init__(self, endpoint_name: str, status: str, waited_seconds: float) -> None:
        super().__init__(
            f"endpoint {endpoint_name} is still {status} after waiting {waited_seconds:.1f} s for InService; "
            "traffic not shifted"
        )
        self.endpoint_name = endpoint_name
        self.status = status
        self.waited_seconds = waited_seconds


def parse_alarm(event: Any) -> AlarmTarget:
    """The alarm's name, state and (endpoint, variant) dimensions; raises AlarmEventError on a part of the wrong type.

    Absent (or null) parts are allowed: they leave the state unknown or the dimensions missing, which shift_traffic
    refuses with its own reason. Every metric is checked, so a malformed event is refused whichever metric names
    the endpoint.
    """
    if not isinstance(event, dict):
        raise AlarmEventError("event must be an object")
    key = "alarmData" if event.get("alarmData") is not None else "detail"
    data = _part(event, key, dict, key) or {}
    state_part = _part(data, "state", dict, f"{key}.state") or {}
    state = _part(state_part, "value", str, f"{key}.state.value")
    alarm_name = _part(data, "alarmName", str, f"{key}.alarmName")
    configuration = _part(data, "configuration", dict, f"{key}.configuration") or {}
    metrics = _part(configuration, "metrics", list, f"{key}.configuration.metrics") or []
    endpoint_name = variant_name = None
    for index, metric in enumerate(metrics):
        where = f"{key}.configuration.metrics[{index}]"
        if not isinstance(metric, dict):
            raise AlarmEventError(f"{where} must be an object")
        stat = _part(metric, "metricStat", dict, f"{where}.metricStat") or {}
        described = _part(stat, "metric", dict, f"{where}.metricStat.metric") or {}
        where += ".metricStat.metric.dimensions"
        dimensions = _part(described, "dimensions", dict, where) or {}
        endpoint = _part(dimensions, "EndpointName", str, f"{where}.EndpointName")
        variant = _part(dimensions, "VariantName", str, f"{where}.VariantName")
        if endpoint and variant and endpoint_name is None:
            endpoint_name, variant_name = endpoint, variant
    return AlarmTarget(alarm_name or "", state or "", endpoint_name, variant_name)


def _part(container: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """container[key] if it has the expected type, None if absent or null; AlarmEventError otherwise."""
    value = container.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise AlarmEventError(f"{where} must be {_KIND_NAMES[kind]}")


def weight(variant: dict[str, Any]) -> float:
    """The weight the endpoint is heading to (DesiredWeight) — an in-flight update counts as done."""
    value = variant.get("DesiredWeight")
    if value is None:
        value = variant.get("CurrentWeight")
    return float(value or 0.0)


def has_capacity(variant: dict[str, Any]) -> bool:
    instances = variant.get("DesiredInstanceCount") or variant.get("CurrentInstanceCount") or 0
    serverless = variant.get("DesiredServerlessConfig") or variant.get("CurrentServerlessConfig")
    return instances > 0 or bool(serverless)


def weights_of(variants: list[dict[str, Any]]) -> dict[str, float]:
    return {str(v["VariantName"]): weight(v) for v in variants}


def plan(variants: list[dict[str, Any]], alarmed: str) -> tuple[str, str, dict[str, float]]:
    """(outcome, reason, resulting weights); outcome is "shift", "done" (nothing left to do) or "blocked".

    Pure: decides without calling AWS.
    """
    weights = weights_of(variants)
    if alarmed not in weights:
        return "blocked", f"variant {alarmed} is not on the endpoint", weights
    # A variant already at weight 0 was drained on purpose (by an earlier alarm or an operator): never route back.
    healthy = [v for v in variants if v["VariantName"] != alarmed and weight(v) > 0 and has_capacity(v)]
    if not healthy:
        return "blocked", f"no healthy variant other than {alarmed} to take the traffic", weights
    if weights[alarmed] == 0:
        return "done", f"variant {alarmed} already receives no traffic", weights
    return "shift", f"variant {alarmed} in alarm; traffic moved to the other variants", {**weights, alarmed: 0.0}


def wait_budget(cfg: Settings, remaining_millis: int) -> float:
    """Seconds this invocation may wait for InService: ENDPOINT_WAIT_SECONDS, cut to the time Lambda leaves it."""
    return max(0.0, min(float(cfg.wait_seconds), remaining_millis / 1000 - SAFETY_MARGIN_SECONDS))


def shift_traffic(event: dict[str, Any], cfg: Settings, *, budget_seconds: float) -> dict[str, Any]:
    try:
        target = parse_alarm(event)
    except AlarmEventError as err:
        return _noop(f"malformed alarm event: {err}", {}, error=True)
    log = {"alarm_name": target.alarm_name, "endpoint_name": target.endpoint_name, "variant": target.variant_name}
    if target.state != "ALARM":
        return _noop(f"alarm state is {target.state or 'unknown'}, not ALARM", log)
    if not cfg.endpoints_enabled:
        return _noop("endpoints are not enabled (phase one)", log)
    if not target.endpoint_name or not target.variant_name:
        return _noop("alarm has no EndpointName/VariantName dimensions", log, error=True)
    if target.endpoint_name != cfg.endpoint_name:
        return _noop(f"endpoint {target.endpoint_name} is not managed by this function", log, error=True)
    waiter = Waiter(cfg.endpoint_name, budget_seconds, cfg.poll_seconds, log)
    return drain(aws.client("sagemaker"), target.variant_name, waiter)


class Waiter:
    """The wait of one invocation: when it started, its deadline, and whether it has paused at all."""

    def __init__(self, endpoint_name: str, budget_seconds: float, poll_seconds: float, log: dict[str, Any]) -> None:
        self.endpoint_name = endpoint_name
        self.poll_seconds = poll_seconds
        self.log = log
        self.started = monotonic()
        self.deadline = self.started + max(0.0, budget_seconds)
        self.waiting = False  # inside a wait (the WARNING for its start is logged)
        self.paused = False  # slept at least once

    def waited(self) -> float:
        return round(monotonic() - self.started, 3)

    def in_service(self) -> None:
        self.waiting = False

    def pause(self, status: str) -> None:
        """Sleep one poll interval (never past the deadline); EndpointBusyError once the deadline is reached."""
        now = monotonic()
        if not self.waiting:
            self.waiting = True
            logger.warning(
                "endpoint busy; waiting for InService",
                endpoint_status=status,
                poll_seconds=self.poll_seconds,
                wait_left_seconds=round(max(0.0, self.deadline - now), 3),
                **self.log,
            )
        if now >= self.deadline:
            error = EndpointBusyError(self.endpoint_name, status, self.waited())
            logger.error("endpoint still busy; raising so the invocation is retried", reason=str(error), **self.log)
            raise error
        sleep(min(float(self.poll_seconds), self.deadline - now))
        self.paused = True

    def result(self, result: dict[str, Any]) -> dict[str, Any]:
        return {**result, "waited_seconds": self.waited()} if self.paused else result


def drain(sagemaker: Any, variant: str, waiter: Waiter) -> dict[str, Any]:
    """Set `variant`'s weight to 0 once the endpoint is InService and the plan still says so; see the module doc."""
    name, log = waiter.endpoint_name, waiter.log
    while True:
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
        status = str(endpoint.get("EndpointStatus") or "")
        variants = endpoint.get("ProductionVariants") or []
        if status in TRANSIENT_STATUSES:
            waiter.pause(status)
            continue
        if status != IN_SERVICE:
            reason = f"endpoint {name} is {status or 'of unknown status'}: no variant can safely take the traffic"
            return waiter.result(_noop(reason, log, weights=weights_of(variants), error=True))
        waiter.in_service()
        outcome, reason, weights = plan(variants, variant)
        if outcome != "shift":
            return waiter.result(_noop(reason, log, weights=weights, error=outcome == "blocked"))
        try:
            # Only the alarmed variant is sent: weights are relative, so the others now carry all the traffic, and a
            # concurrent change to another variant's weight or capacity is not overwritten.
            sagemaker.update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": variant, "DesiredWeight": 0.0}]
            )
        except ClientError as err:
            if not _endpoint_busy(err):
                raise
            # It went busy between the describe and the update: wait again, then re-plan from a fresh describe.
            waiter.pause("Updating")
            continue
        logger.warning("traffic shifted", reason=reason, weights=weights, **log)
        return waiter.result({"action": "shifted", "reason": reason, "weights": weights})


def _endpoint_busy(err: ClientError) -> bool:
    message = str(err.response.get("Error", {}).get("Message", ""))
    return aws.error_code(err) == "ValidationException" and bool(_BUSY_MESSAGE.search(message))


def _noop(reason: str, log: dict[str, Any], *, weights: dict[str, float] | None = None, error: bool = False) -> dict:
    (logger.error if error else logger.info)("no traffic shift", reason=reason, **log)
    return {"action": "noop", "reason": reason, "weights": weights or {}}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    cfg = settings()
    return shift_traffic(event, cfg, budget_seconds=wait_budget(cfg, context.get_remaining_time_in_millis()))
