"""The phase flag (ARCHITECTURE §6): ``endpoints_enabled`` flips when the functions' ``ENDPOINTS_ENABLED`` changes
or the endpoint is created or destroyed. A flip must be additive: one that deletes or replaces anything blocks."""

from collections import Counter
from dataclasses import dataclass

from tools.plan_report.markdown import code
from tools.plan_report.model import Change, Finding, Plan
from tools.plan_report.paths import any_marked, marks_at, value_at
from tools.plan_report.rules import PHASE_FLAG, PHASE_FLAG_PATH
from tools.plan_report.sagemaker import ENDPOINT

FLAG_VALUES = ("false", "true")


@dataclass(frozen=True)
class PhaseFlip:
    stack: str
    before: str  # "false", "true" or "?" (sensitive, unknown or inconsistent)
    after: str
    evidence: tuple[tuple[str, str], ...]  # (address, what it shows)

    @property
    def headline(self) -> str:
        return f"Phase flag: {code(PHASE_FLAG)} {self.before} → {self.after} in {code(self.stack)}"


def _function_evidence(change: Change) -> tuple[str, str, str] | None:
    """(before, after, text) when a function's ENDPOINTS_ENABLED changes."""
    if change.type != "aws_lambda_function" or not isinstance(change.before, dict):
        return None
    if not isinstance(change.after, dict):
        return None
    if any_marked(marks_at(change.after_unknown, PHASE_FLAG_PATH)):
        return "?", "?", "`ENDPOINTS_ENABLED` known only at apply"
    before, after = value_at(change.before, PHASE_FLAG_PATH), value_at(change.after, PHASE_FLAG_PATH)
    if before == after:
        return None
    if any_marked(marks_at(change.before_sensitive, PHASE_FLAG_PATH)) or any_marked(
        marks_at(change.after_sensitive, PHASE_FLAG_PATH)
    ):
        return "?", "?", "`ENDPOINTS_ENABLED` changed (sensitive value)"
    b = before if before in FLAG_VALUES else "?"
    a = after if after in FLAG_VALUES else "?"
    return b, a, f"`ENDPOINTS_ENABLED` {b} → {a}"


def detect(plan: Plan) -> PhaseFlip | None:
    steps: Counter[tuple[str, str]] = Counter()
    evidence: list[tuple[str, str]] = []
    for change in plan.changes:
        found = _function_evidence(change)
        if found:
            steps[(found[0], found[1])] += 1
            evidence.append((change.address, found[2]))
    endpoint_steps: list[tuple[str, str]] = []
    for change in plan.changes:
        if change.type == ENDPOINT and change.actions in (("create",), ("delete",)):
            endpoint_steps.append(("false", "true") if change.actions == ("create",) else ("true", "false"))
            evidence.append(
                (change.address, "endpoint created" if change.actions == ("create",) else "endpoint deleted")
            )
    if not evidence:
        return None
    candidates = set(steps) or set(endpoint_steps)
    before, after = candidates.pop() if len(candidates) == 1 else ("?", "?")
    return PhaseFlip(plan.stack, before, after, tuple(evidence))


def not_additive(flip: PhaseFlip, plan: Plan) -> list[Finding]:
    """A blocking finding for every delete or replace in a stack whose phase flag flips."""
    return [
        Finding(
            plan.stack,
            change.address,
            "phase-flip-not-additive",
            f"the phase flip ({flip.before} → {flip.after}) must only add and update in place, but this "
            f"{'replaces' if 'create' in change.actions else 'deletes'} it (ARCHITECTURE §6)",
            True,
        )
        for change in plan.changes
        if "delete" in change.actions
    ]
