"""Alarm → shift endpoint traffic away from the failing production variant.

Invoked directly as a CloudWatch alarm Lambda action (`alarmData`) or by an EventBridge "CloudWatch Alarm State
Change" rule (`detail`). Only acts on ALARM, only on this environment's endpoint (ENDPOINT_NAME), and only when
another variant can take the traffic. Weights are changed on the endpoint at runtime, so Terraform sees no drift.
An event with a part of the wrong type is refused (`noop`, ERROR log) before any AWS call: it never raises.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mlp_common import aws
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.settings import env_flag, env_str

logger = Logger("traffic_shift")


@dataclass(frozen=True)
class Settings:
    endpoints_enabled: bool
    endpoint_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(endpoints_enabled=env_flag("ENDPOINTS_ENABLED"), endpoint_name=env_str("ENDPOINT_NAME"))


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


def plan(variants: list[dict[str, Any]], alarmed: str) -> tuple[str, str, dict[str, float]]:
    """(outcome, reason, resulting weights); outcome is "shift", "done" (nothing left to do) or "blocked".

    Pure: decides without calling AWS.
    """
    weights = {str(v["VariantName"]): weight(v) for v in variants}
    if alarmed not in weights:
        return "blocked", f"variant {alarmed} is not on the endpoint", weights
    # A variant already at weight 0 was drained on purpose (by an earlier alarm or an operator): never route back.
    healthy = [v for v in variants if v["VariantName"] != alarmed and weight(v) > 0 and has_capacity(v)]
    if not healthy:
        return "blocked", f"no healthy variant other than {alarmed} to take the traffic", weights
    if weights[alarmed] == 0:
        return "done", f"variant {alarmed} already receives no traffic", weights
    return "shift", f"variant {alarmed} in alarm; traffic moved to the other variants", {**weights, alarmed: 0.0}


def shift_traffic(event: dict[str, Any], cfg: Settings) -> dict[str, Any]:
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

    sagemaker = aws.client("sagemaker")
    variants = sagemaker.describe_endpoint(EndpointName=cfg.endpoint_name)["ProductionVariants"]
    outcome, reason, weights = plan(variants, target.variant_name)
    if outcome != "shift":
        return _noop(reason, log, weights=weights, error=outcome == "blocked")
    # Only the alarmed variant is sent: weights are relative, so the others now carry all the traffic, and a
    # concurrent change to another variant's weight or capacity is not overwritten.
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=cfg.endpoint_name,
        DesiredWeightsAndCapacities=[{"VariantName": target.variant_name, "DesiredWeight": 0.0}],
    )
    logger.warning("traffic shifted", reason=reason, weights=weights, **log)
    return {"action": "shifted", "reason": reason, "weights": weights}


def _noop(reason: str, log: dict[str, Any], *, weights: dict[str, float] | None = None, error: bool = False) -> dict:
    (logger.error if error else logger.info)("no traffic shift", reason=reason, **log)
    return {"action": "noop", "reason": reason, "weights": weights or {}}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.inject_context(context)
    return shift_traffic(event, settings())
