"""The machine-readable side: the plan fingerprint the deploy workflow compares, and the summary document."""

import hashlib
import json
from typing import TYPE_CHECKING, Any

from tools.plan_report.model import Finding, Plan

if TYPE_CHECKING:
    from tools.plan_report.analysis import Report

SUMMARY_FORMAT = 1


def fingerprint_entries(plans: tuple[Plan, ...]) -> list[str]:
    """One canonical JSON line per change that does something: (stack, address, actions, replace paths), plus the
    moved-from address, the import and the deposed key, which change what an apply does as much as the actions."""
    entries = []
    for plan in plans:
        for change in plan.changes:
            if change.actions == ("no-op",) and not change.previous_address and not change.importing:
                continue
            entry = [
                plan.stack,
                change.address,
                list(change.actions),
                sorted((list(p) for p in change.replace_paths), key=json.dumps),
                change.previous_address,
                change.importing,
                change.deposed,
            ]
            entries.append(json.dumps(entry, separators=(",", ":"), ensure_ascii=True))
    return sorted(entries)


def fingerprint(plans: tuple[Plan, ...]) -> str:
    """sha256 over the sorted entries: stable under reordering, changed by any action or replace path."""
    return hashlib.sha256("\n".join(fingerprint_entries(plans)).encode()).hexdigest()


def _finding(report: "Report", finding: Finding) -> dict[str, Any]:
    stack = next(s for s in report.stacks if s.plan.stack == finding.stack)
    entry: dict[str, Any] = {
        "stack": finding.stack,
        "address": finding.address,
        "construct": stack.name_of(finding.address) if finding.address else None,
        "kind": finding.kind,
        "message": finding.message,
    }
    if finding.acknowledged_reason is not None:
        entry["acknowledged_reason"] = finding.acknowledged_reason
    return entry


def summary(report: "Report") -> dict[str, Any]:
    return {
        "format": SUMMARY_FORMAT,
        "result": "blocking" if report.blocking else "ok",
        "fingerprint": report.fingerprint,
        "stacks": {
            stack.plan.stack: {
                "plan": stack.plan.source,
                "counts": dict(stack.counts),
                "drift": len(stack.drift),
                "phase_flag": ({"from": stack.flip.before, "to": stack.flip.after} if stack.flip else None),
            }
            for stack in report.stacks
        },
        "blocking": [_finding(report, f) for f in report.blocking],
        "acknowledged": [_finding(report, f) for f in report.acknowledged],
        "warnings": [_finding(report, f) for f in report.warnings],
        "acknowledgements_not_checked": report.acknowledgements_unchecked,
    }
