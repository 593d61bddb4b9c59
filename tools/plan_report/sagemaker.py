"""SageMaker serving: variant changes with an estimated hourly cost, the endpoint-update guard and the config roll.

SageMaker refuses ``UpdateEndpoint`` when the new endpoint config changes the instance type of, or removes, a variant
registered as an Application Auto Scaling target ("Update endpoints that use auto scaling",
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html): the apply would fail half-way. Our
configs are named by their content with ``create_before_destroy`` (ARCHITECTURE §6), so such a change shows up as a
config replacement plus an in-place endpoint update.
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tools.plan_report.markdown import code, dollars
from tools.plan_report.model import Change, Finding, Plan, Redacted

CONFIG = "aws_sagemaker_endpoint_configuration"
ENDPOINT = "aws_sagemaker_endpoint"
SCALING_TARGET = "aws_appautoscaling_target"
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Prices:
    source: str
    as_of: str
    caveat: str
    regions: dict[str, dict[str, float]]

    def hourly(self, region: str | None, instance_type: str) -> float | None:
        return self.regions.get(region or "", {}).get(instance_type)

    def citation(self, region: str | None) -> str:
        return f"{self.source}, {region or 'region unknown'}, as of {self.as_of} ({self.caveat})"


@cache
def prices() -> Prices:
    """The price table shipped with the package (sagemaker_prices.json)."""
    document = json.loads(resources.files("tools.plan_report").joinpath("sagemaker_prices.json").read_text())
    return Prices(document["source"], document["as_of"], document["caveat"], document["regions"])


@dataclass(frozen=True)
class Variant:
    name: str
    instance_type: str | None  # None for a serverless variant
    count: int | None
    weight: float | None
    serverless: bool


def variants(values: Any) -> dict[str, Variant] | None:
    """The production variants of an endpoint config's values by name; None when they are not a list of objects."""
    items = values.get("production_variants") if isinstance(values, dict) else None
    if not isinstance(items, list):
        return None
    found: dict[str, Variant] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return None
        name = _text(item, "variant_name") or f"#{index}"
        instance_type = _text(item, "instance_type") or None
        count = item.get("initial_instance_count")
        weight = item.get("initial_variant_weight")
        found[name] = Variant(
            name=name,
            instance_type=instance_type or None,
            count=count if isinstance(count, int) and not isinstance(count, bool) else None,
            weight=weight if isinstance(weight, int | float) and not isinstance(weight, bool) else None,
            serverless=bool(item.get("serverless_config")) and not instance_type,
        )
    return found


@dataclass(frozen=True)
class Cost:
    hourly: float | None  # None: some instance type has no price
    unpriced: tuple[str, ...]
    serverless: tuple[str, ...]

    def text(self) -> str:
        if self.hourly is None:
            return "price unknown (" + ", ".join(code(t) for t in self.unpriced) + ")"
        return f"{dollars(self.hourly)}/h"


def cost(served: dict[str, Variant], region: str | None) -> Cost:
    table = prices()
    total = 0.0
    unpriced: list[str] = []
    for variant in served.values():
        if variant.serverless:
            continue
        price = table.hourly(region, variant.instance_type or "")
        if price is None or variant.count is None:
            unpriced.append(variant.instance_type or f"variant {variant.name}")
        else:
            total += price * variant.count
    serverless = tuple(v.name for v in served.values() if v.serverless)
    return Cost(None if unpriced else total, tuple(sorted(set(unpriced))), serverless)


def cost_line(before: dict[str, Variant] | None, after: dict[str, Variant] | None, region: str | None) -> str:
    """``estimated $0.230/h → $0.638/h (+$0.408/h, about +$298 per month)`` with the price source."""
    old = cost(before or {}, region)
    new = cost(after or {}, region)
    text = f"estimated {old.text()} → {new.text()}"
    if old.hourly is not None and new.hourly is not None:
        delta = new.hourly - old.hourly
        sign = "+" if delta >= 0 else "-"
        text += f" ({sign}{dollars(abs(delta))}/h, about {sign}${abs(delta) * HOURS_PER_MONTH:,.0f} per month)"
    serverless = sorted(set(old.serverless) | set(new.serverless))
    if serverless:
        text += "; serverless variants " + ", ".join(code(v) for v in serverless) + " are billed per use"
    return f"{text}; prices: {prices().citation(region)}"


def variant_lines(before: dict[str, Variant], after: dict[str, Variant]) -> list[str]:
    """What changed per variant: instance type, instance count, weight; variants added or removed."""
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            lines.append(f"variant {code(name)} added: {_shape(new)}")
        elif new is None and old is not None:
            lines.append(f"variant {code(name)} removed (was {_shape(old)})")
        elif old is not None and new is not None and old != new:
            parts = [
                f"{label} {_value(getattr(old, attr))} → {_value(getattr(new, attr))}"
                for label, attr in (("instance type", "instance_type"), ("instances", "count"), ("weight", "weight"))
                if getattr(old, attr) != getattr(new, attr)
            ]
            if old.serverless != new.serverless:
                parts.append("serverless" if new.serverless else "instance-based")
            lines.append(f"variant {code(name)}: " + "; ".join(parts))
    return lines


def _shape(variant: Variant) -> str:
    if variant.serverless:
        return f"serverless, weight {_value(variant.weight)}"
    return f"{_value(variant.count)} of {_value(variant.instance_type)}, weight {_value(variant.weight)}"


def _attr(values: Any, key: str) -> Any:
    return values.get(key) if isinstance(values, dict) else None


def _text(values: Any, key: str) -> str:
    """A string attribute of some values, or "" (which names nothing)."""
    value = values.get(key) if isinstance(values, dict) else None
    return value if isinstance(value, str) else ""


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return code(value) if value is not None else "(unset)"


# --- Endpoints and the configs they serve ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointRoll:
    """An endpoint that exists and switches to another endpoint config in this plan (an UpdateEndpoint)."""

    endpoint: Change
    old_config: Any  # values of the config it serves now, or None when not found
    new_config: Any  # values of the config it will serve, or None when known only at apply


def _configs_by_name(plan: Plan, side: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if side == "before":
        for rtype, values in plan.prior.values():
            if rtype == CONFIG and isinstance(values, dict) and isinstance(values.get("name"), str):
                found[values["name"]] = values
    for change in plan.changes:
        values = getattr(change, side)
        if (
            change.type == CONFIG
            and isinstance(values, dict)
            and isinstance(values.get("name"), str)
            and values["name"]
        ):
            found[values["name"]] = values
    return found


def served_config(plan: Plan, endpoint: Change) -> Any:
    """The values of the config an endpoint serves after this plan: by name, else through the configuration's
    reference (the name of a config being replaced is known only at apply)."""
    by_name = _configs_by_name(plan, "after")
    if _text(endpoint.after, "endpoint_config_name") in by_name:
        return by_name[_text(endpoint.after, "endpoint_config_name")]
    for reference in plan.references.get(endpoint.address, {}).get("endpoint_config_name", ()):
        for change in plan.changes:
            if change.type == CONFIG and reference.startswith(f"{change.address}.") and isinstance(change.after, dict):
                return change.after
    return None


def rolls(plan: Plan) -> list[EndpointRoll]:
    before_configs = _configs_by_name(plan, "before")
    found: list[EndpointRoll] = []
    for change in plan.changes:
        if change.type != ENDPOINT or change.actions != ("update",):
            continue
        before = change.before if isinstance(change.before, dict) else {}
        after = change.after if isinstance(change.after, dict) else {}
        unknown = isinstance(change.after_unknown, dict) and change.after_unknown.get("endpoint_config_name") is True
        if not unknown and before.get("endpoint_config_name") == after.get("endpoint_config_name"):
            continue
        found.append(
            EndpointRoll(change, before_configs.get(_text(before, "endpoint_config_name")), served_config(plan, change))
        )
    return found


def _registered_targets(plan: Plan) -> dict[str, str]:
    """resource_id -> address of every scaling target that exists before this plan and is not deleted by it."""
    deleted = {c.address for c in plan.changes if "delete" in c.actions}
    found: dict[str, str] = {}
    for address, (rtype, values) in plan.prior.items():
        if rtype == SCALING_TARGET and isinstance(values, dict) and address not in deleted:
            found[str(values.get("resource_id"))] = address
    for change in plan.changes:
        if change.type == SCALING_TARGET and isinstance(change.before, dict) and change.address not in deleted:
            found[str(change.before.get("resource_id"))] = change.address
    return found


def guard_findings(plan: Plan) -> list[Finding]:
    """Blocking: an endpoint update that changes the instance type of (or removes) an autoscaled variant.
    Warning: every roll resets the runtime weights to the new config's initial weights."""
    targets = _registered_targets(plan)
    findings: list[Finding] = []
    for roll in rolls(plan):
        name = _text(roll.endpoint.before, "name")
        old = variants(roll.old_config) or {}
        new = variants(roll.new_config)
        if new is None:
            findings.append(_finding(plan, roll, "endpoint-roll-unknown", False, _UNKNOWN_ROLL))
            continue
        for variant in sorted(old):
            target = targets.get(f"endpoint/{name}/variant/{variant}")
            if target is None:
                continue
            if variant not in new:
                change = "removes variant " + code(variant)
            elif new[variant].instance_type != old[variant].instance_type:
                change = (
                    f"changes variant {code(variant)} from {_value(old[variant].instance_type)} "
                    f"to {_value(new[variant].instance_type)}"
                )
            else:
                continue
            registered = plan.construct_of(target)[0] or target
            findings.append(
                _finding(
                    plan,
                    roll,
                    "endpoint-autoscaling-guard",
                    True,
                    f"the endpoint update {change} while it is registered for autoscaling ({code(registered)}): "
                    "SageMaker refuses UpdateEndpoint (Update endpoints that use auto scaling); deregister the target "
                    "first or roll the variant under a new name",
                )
            )
        weights = ", ".join(f"{code(v.name)}={_value(v.weight)}" for v in new.values())
        findings.append(
            _finding(
                plan,
                roll,
                "endpoint-config-roll",
                False,
                "the endpoint rolls to a new endpoint config: runtime weights set by the traffic shift are reset to "
                f"its initial_variant_weight ({weights})",
            )
        )
    return findings


_UNKNOWN_ROLL = (
    "the endpoint rolls to an endpoint config known only at apply: the autoscaling guard and the weights it restores "
    "cannot be checked"
)


def _finding(plan: Plan, roll: EndpointRoll, kind: str, blocking: bool, message: str) -> Finding:
    return Finding(plan.stack, roll.endpoint.address, kind, message, blocking)


# --- Domain diff lines -----------------------------------------------------------------------------------------------


def config_lines(plan: Plan, change: Change) -> list[str]:
    """Variant changes of one endpoint config with the cost of serving it (before → after)."""
    before = variants(change.before) if change.before is not None else {}
    unknown = isinstance(change.after_unknown, dict) and change.after_unknown.get("production_variants") is True
    if unknown:
        return ["production variants known only at apply"]
    after = variants(change.after) if change.after is not None else {}
    if any(isinstance(_attr(v, "production_variants"), Redacted) for v in (change.before, change.after)):
        return ["production variants: sensitive, not shown"]
    if before is None or after is None:
        return []
    lines = variant_lines(before, after)
    if lines:
        lines.append(f"cost while an endpoint serves it: {cost_line(before, after, plan.region)}")
    return lines


def endpoint_lines(plan: Plan, change: Change) -> list[str]:
    """An endpoint created, deleted or rolled: what it serves and what that costs."""
    if change.actions == ("create",):
        served = variants(served_config(plan, change))
        return [f"starts serving: {cost_line({}, served, plan.region)}"] if served else []
    if change.actions == ("delete",):
        served = variants(_configs_by_name(plan, "before").get(_text(change.before, "endpoint_config_name")))
        return [f"stops serving: {cost_line(served, {}, plan.region)}"] if served else []
    for roll in rolls(plan):
        if roll.endpoint.address == change.address:
            old, new = variants(roll.old_config), variants(roll.new_config)
            if new is None:
                return [_UNKNOWN_ROLL]
            return [*variant_lines(old or {}, new), f"serving cost: {cost_line(old, new, plan.region)}"]
    return []
