"""Findings from the type tables of :mod:`tools.plan_report.rules`, and the acknowledgements that clear them."""

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tools.plan_report.actions import CLASSES, UNRECOGNISED, classify, deletes
from tools.plan_report.markdown import code, scalar
from tools.plan_report.model import Acknowledgement, Change, Finding, Plan
from tools.plan_report.paths import any_marked, format_path, step_into
from tools.plan_report.rules import PRECURSOR_VALUES_HIDDEN, PRECURSORS, STATEFUL, WARN_ON_DELETE, Precursor


def action_text(change: Change) -> str:
    """``replace (delete, then create)``: what happens to the object, without import/move."""
    return " + ".join(CLASSES[c] for c in classify(change) if c in CLASSES and c not in ("import", "move")) or "delete"


def reason_text(change: Change) -> str:
    """``reason `replace_because_cannot_update`, forced by `bucket``` (empty when Terraform gives neither)."""
    parts = [f"reason {code(change.action_reason)}"] if change.action_reason else []
    if change.replace_paths:
        parts.append("forced by " + ", ".join(code(format_path(p)) for p in change.replace_paths))
    return ", ".join(parts)


def what_happens(change: Change, subject: str) -> str:
    """``**replace (delete, then create)** of stateful `aws_s3_bucket` (reason …, forced by …)``."""
    reason = reason_text(change)
    return f"**{action_text(change)}** of {subject}" + (f" ({reason})" if reason else "")


def stateful(plan: Plan) -> list[Finding]:
    return [
        Finding(
            plan.stack,
            change.address,
            "stateful",
            f"{what_happens(change, f'stateful {code(change.type)}')}: {STATEFUL[change.type]}",
            True,
        )
        for change in plan.changes
        if change.mode == "managed" and deletes(change) and change.type in STATEFUL
    ]


def removed_safeguards(plan: Plan) -> list[Finding]:
    return [
        Finding(
            plan.stack,
            change.address,
            "safeguard-removed",
            f"{what_happens(change, code(change.type))}: {WARN_ON_DELETE[change.type].reason}",
            False,
        )
        for change in plan.changes
        if change.mode == "managed" and change.type in WARN_ON_DELETE and _removes(change)
    ]


def _removes(change: Change) -> bool:
    """A delete, or a delete-first replacement where the safeguard says the gap matters."""
    if change.actions == ("delete",):
        return True
    return change.actions == ("delete", "create") and WARN_ON_DELETE[change.type].delete_first_replace


def unrecognised(plan: Plan) -> list[Finding]:
    return [
        Finding(
            plan.stack,
            change.address,
            "unrecognised-action",
            f"actions {code(json.dumps(list(change.actions)))} are not ones this report knows: review it by hand",
            True,
        )
        for change in plan.changes
        if UNRECOGNISED in classify(change)
    ]


def plan_state(plan: Plan) -> list[Finding]:
    if plan.errored:
        return [
            Finding(plan.stack, "", "plan-errored", "the plan errored: it is incomplete, fix it and plan again", True)
        ]
    if not plan.complete:
        return [
            Finding(
                plan.stack,
                "",
                "plan-incomplete",
                "the plan is incomplete (targeted or deferred): more may follow",
                False,
            )
        ]
    return []


def precursors(plan: Plan) -> list[Finding]:
    found: list[Finding] = []
    for change in plan.changes:
        if change.mode != "managed" or not isinstance(change.before, dict) or not isinstance(change.after, dict):
            continue
        for rule in PRECURSORS:
            if rule.resource_type == change.type:
                found.extend(_precursor(plan.stack, change, rule))
    return found


def _precursor(stack: str, change: Change, rule: Precursor) -> Iterable[Finding]:
    if any_marked(step_into(change.after_unknown, rule.root)):
        return
    hidden = (change.type, rule.root) in PRECURSOR_VALUES_HIDDEN or any(
        any_marked(step_into(marks, rule.root)) for marks in (change.before_sensitive, change.after_sensitive)
    )
    before, after = rule.extract(change.before), rule.extract(change.after)
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label), after.get(label)
        old, new = (rule.default if old is None else old), (rule.default if new is None else new)
        if rule.dangerous(old, new):
            values = "" if hidden else f" ({_value(old)} → {_value(new)})"
            message = f"{code(label)} {rule.what}{values}: {rule.consequence}"
            yield Finding(stack, change.address, "precursor", message, rule.blocking)


def _value(value: Any) -> str:
    return "unset" if value is None else scalar(value)


# --- Acknowledgements ------------------------------------------------------------------------------------------------


def acknowledge(
    findings: list[Finding], acknowledgements: tuple[Acknowledgement, ...], plans: tuple[Plan, ...], source: str
) -> list[Finding]:
    """Blocking findings covered by an acknowledgement carry its reason; acknowledgements for a stack in this run
    that cover nothing become warnings (stale: remove them once their change is deployed)."""
    actions = {(p.stack, c.address): c.actions for p in plans for c in p.changes if c.actions != ("no-op",)}
    stacks = {p.stack for p in plans}
    result: list[Finding] = []
    used: set[tuple[str, str]] = set()
    by_address = {(a.stack, a.address): a for a in acknowledgements}
    for finding in findings:
        ack = by_address.get((finding.stack, finding.address)) if finding.blocking and finding.address else None
        if ack and (ack.actions is None or ack.actions == actions.get((ack.stack, ack.address))):
            used.add((ack.stack, ack.address))
            finding = replace(finding, acknowledged_reason=ack.reason)
        result.append(finding)
    for ack in acknowledgements:
        if ack.stack in stacks and (ack.stack, ack.address) not in used:
            result.append(Finding(ack.stack, ack.address, "stale-acknowledgement", _stale(ack, actions, source), False))
    return result


def _stale(ack: Acknowledgement, actions: dict[tuple[str, str], tuple[str, ...]], source: str) -> str:
    planned = actions.get((ack.stack, ack.address))
    if planned is None:
        why = "matches no planned change at this address"
    elif ack.actions is not None and ack.actions != planned:
        why = (
            f"names actions {code(json.dumps(list(ack.actions)))}, but the plan does {code(json.dumps(list(planned)))}"
        )
    else:
        why = "covers no blocking finding (this change needs no acknowledgement)"
    return f"stale acknowledgement: it {why}; remove it from {code(source)}"
