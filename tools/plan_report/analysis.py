"""From validated plans to the report's content: rows named by construct path, findings, domain diffs, drift."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from tools.plan_report import events, iam, phase, policy, sagemaker, stepfunctions
from tools.plan_report.actions import CLASSES, classify
from tools.plan_report.markdown import code
from tools.plan_report.model import Acknowledgement, Change, Finding, Plan
from tools.plan_report.paths import ChangedPath, any_marked, changed_paths, step_into
from tools.plan_report.phase import PhaseFlip
from tools.plan_report.rules import POLICY_ATTRIBUTES, STATEFUL
from tools.plan_report.summary import fingerprint

_NOISE_ROOTS = frozenset({"tags", "tags_all"})


@dataclass(frozen=True)
class Row:
    """One resource change as the tables show it."""

    change: Change
    classes: tuple[str, ...]
    construct: str | None  # the CDKTF construct path, None without a synthesized stack
    derived: bool  # the construct path is read from the address (the resource is not in the synthesized stack)
    changed: tuple[ChangedPath, ...]  # for updates and replacements

    @property
    def noise(self) -> bool:
        """An update that only touches tags or values known at apply: first to lose its details when trimming."""
        return self.classes == ("update",) and all(
            p.unknown or (bool(p.path) and p.path[0] in _NOISE_ROOTS) for p in self.changed
        )

    @property
    def name(self) -> str:
        return self.construct or self.change.label


@dataclass(frozen=True)
class DomainDiff:
    address: str
    title: str  # Markdown
    lines: tuple[str, ...]


@dataclass(frozen=True)
class StackReport:
    plan: Plan
    rows: tuple[Row, ...]  # every change but plain no-ops, sorted by construct path
    drift: tuple[Row, ...]
    drift_reverted: frozenset[str]  # drifted addresses this plan changes back
    drift_hidden: int  # drift entries left out: only empty-value swaps, or attributes this plan neither uses nor sets
    domain: tuple[DomainDiff, ...]
    flip: PhaseFlip | None
    counts: dict[str, int]

    def name_of(self, address: str) -> str | None:
        """The construct path of an address in this stack, when there is a synthesized stack to read it from."""
        return self.plan.construct_of(address)[0]


@dataclass(frozen=True)
class Report:
    stacks: tuple[StackReport, ...]
    findings: tuple[Finding, ...]
    fingerprint: str
    acknowledgements_file: str
    acknowledgements_unchecked: int  # entries for stacks not in this run

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.open]

    @property
    def acknowledged(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking and not f.open]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.blocking]


def _row(plan: Plan, change: Change, drift: bool = False) -> Row:
    construct, derived = plan.construct_of(change.address)
    changed: tuple[ChangedPath, ...] = ()
    both = isinstance(change.before, dict) and isinstance(change.after, dict)
    if both and (drift or "update" in change.actions or _replaces(change)):
        every = changed_paths(
            change.before, change.after, change.before_sensitive, change.after_sensitive, change.after_unknown
        )
        changed = tuple(p for p in every if p.unknown or p.sensitive or not (_empty(p.before) and _empty(p.after)))
    return Row(change, () if drift else classify(change), construct, derived, changed)


def _replaces(change: Change) -> bool:
    return "create" in change.actions and "delete" in change.actions


def _empty(value: object) -> bool:
    """null, "", {} and []: a refresh often swaps one for another (tags null -> {}), which changes nothing."""
    return value is None or value in ("", {}, [])


def _overlaps(path: tuple[str | int, ...], others: Iterable[tuple[str | int, ...]]) -> bool:
    """Whether one path is within the other (either way round)."""
    return any(path[: len(other)] == other or other[: len(path)] == path for other in others)


def _drift_rows(plan: Plan, rows: list[Row]) -> tuple[list[Row], frozenset[str], int]:
    """The drift a reviewer needs: objects deleted outside Terraform, and changed attributes that this plan changes
    back or that its changes depend on (Terraform's ``relevant_attributes``; its own plan output filters drift the
    same way). Returns the rows, the addresses the plan changes back, and how many entries are left out."""
    planned = {row.change.address: [p.path for p in row.changed] for row in rows}
    kept: list[Row] = []
    reverted: set[str] = set()
    for change in plan.drift:
        row = _row(plan, change, drift=True)
        if change.actions != ("update",):
            kept.append(row)
            continue
        back = [p for p in row.changed if _overlaps(p.path, planned.get(change.address, []))]
        used = [
            p for p in row.changed if plan.relevant is None or _overlaps(p.path, plan.relevant.get(change.address, ()))
        ]
        paths = tuple(p for p in row.changed if p in back or p in used)
        if paths:
            kept.append(replace(row, changed=paths))
            reverted |= {change.address} if back else set()
    return sorted(kept, key=_sort_key), frozenset(reverted), len(plan.drift) - len(kept)


def _sort_key(row: Row) -> tuple[str, str]:
    return (row.name, row.change.label)


# --- Domain diffs ----------------------------------------------------------------------------------------------------


def _attribute_state(change: Change, attribute: str) -> str | None:
    """ "sensitive" or "unknown" when the attribute cannot be shown, else None."""
    marks = (step_into(change.before_sensitive, attribute), step_into(change.after_sensitive, attribute))
    if any(any_marked(m) for m in marks):
        return "sensitive"
    if any_marked(step_into(change.after_unknown, attribute)):
        return "unknown"
    return None


def _attr(values: object, attribute: str) -> object:
    return values.get(attribute) if isinstance(values, dict) else None


def _policy_lines(change: Change) -> list[str]:
    lines: list[str] = []
    for attribute in POLICY_ATTRIBUTES.get(change.type, ()):
        before, after = _attr(change.before, attribute), _attr(change.after, attribute)
        state = _attribute_state(change, attribute)
        if state == "sensitive":
            if before != after:
                lines.append(f"{code(attribute)}: sensitive, not shown")
            continue
        if state == "unknown":
            lines.append(f"{code(attribute)}: known only at apply")
            continue
        if before == after:
            continue
        old = iam.parse(before) if before is not None else {}
        new = iam.parse(after) if after is not None else {}
        if old is None or new is None:
            lines.append(f"{code(attribute)}: not a policy document, not shown")
            continue
        star = "resource `*` (the key itself)" if change.type == "aws_kms_key" else "resource `*` ⚠️"
        lines.extend(f"{code(attribute)} · {line}" for line in iam.diff_lines(old, new, star))
    return lines


def _state_machine_lines(change: Change) -> list[str]:
    state = _attribute_state(change, "definition")
    if state == "sensitive":
        return ["definition: sensitive, not shown"]
    if state == "unknown":
        return ["definition known only at apply (it refers to values computed then): states cannot be compared"]
    before, after = _attr(change.before, "definition"), _attr(change.after, "definition")
    if before == after:
        return []
    old, new = stepfunctions.parse(before), stepfunctions.parse(after)
    if old is None or new is None:
        return ["definition is not a JSON object on one side: not compared"]
    return stepfunctions.diff_lines(old, new)


def _event_rule_lines(change: Change) -> list[str]:
    lines: list[str] = []
    for attribute, render in (("schedule_expression", events.schedule_line), ("event_pattern", events.pattern_lines)):
        state = _attribute_state(change, attribute)
        before, after = _attr(change.before, attribute), _attr(change.after, attribute)
        if state == "sensitive":
            lines.extend([f"{code(attribute)}: sensitive, not shown"] if before != after else [])
        elif state == "unknown":
            lines.append(f"{code(attribute)}: known only at apply")
        else:
            lines.extend(render(before, after))
    return lines


def _domain(plan: Plan, change: Change) -> DomainDiff | None:
    """The domain diff of one change, if its type has one: IAM and resource policies (also when created: a new
    grant is what a reviewer looks for), state machines, event rules, SageMaker configs and endpoints."""
    updating = "update" in change.actions or _replaces(change)
    lines: list[str] = []
    if change.type in POLICY_ATTRIBUTES and (updating or change.actions == ("create",)):
        title = "IAM policy" if change.type.startswith("aws_iam_") else "Resource policy"
        lines = _policy_lines(change)
    elif change.type == "aws_sfn_state_machine" and updating:
        title, lines = "Step Functions", _state_machine_lines(change)
    elif change.type == "aws_cloudwatch_event_rule" and updating:
        title, lines = "EventBridge rule", _event_rule_lines(change)
    elif change.type == sagemaker.CONFIG and change.actions != ("no-op",):
        title, lines = "SageMaker endpoint config", sagemaker.config_lines(plan, change)
    elif change.type == sagemaker.ENDPOINT and change.actions != ("no-op",):
        title, lines = "SageMaker endpoint", sagemaker.endpoint_lines(plan, change)
    if not lines:
        return None
    construct = plan.construct_of(change.address)[0]
    name = f"{code(construct)} ({code(change.address)})" if construct else code(change.address)
    return DomainDiff(change.address, f"{title} {name}", tuple(lines))


# --- Assembly --------------------------------------------------------------------------------------------------------


def _drift_findings(plan: Plan) -> list[Finding]:
    return [
        Finding(
            plan.stack,
            change.address,
            "drift-deleted",
            f"stateful {code(change.type)} was deleted outside Terraform: {STATEFUL[change.type]}",
            False,
        )
        for change in plan.drift
        if change.actions == ("delete",) and change.type in STATEFUL
    ]


def analyze_stack(plan: Plan) -> tuple[StackReport, list[Finding]]:
    rows = sorted((_row(plan, c) for c in plan.changes if classify(c)), key=_sort_key)
    drift, reverted, drift_hidden = _drift_rows(plan, rows)
    domain = [d for d in (_domain(plan, c) for c in plan.changes) if d]
    flip = phase.detect(plan)
    findings = [
        *policy.plan_state(plan),
        *policy.stateful(plan),
        *policy.precursors(plan),
        *policy.unrecognised(plan),
        *(phase.not_additive(flip, plan) if flip else []),
        *sagemaker.guard_findings(plan),
        *policy.removed_safeguards(plan),
        *_drift_findings(plan),
    ]
    counts = Counter(c for row in rows for c in row.classes if c in CLASSES)
    report = StackReport(
        plan=plan,
        rows=tuple(rows),
        drift=tuple(drift),
        drift_reverted=reverted,
        drift_hidden=drift_hidden,
        domain=tuple(sorted(domain, key=lambda d: d.title)),
        flip=flip,
        counts={key: counts.get(key, 0) for key in CLASSES},
    )
    return report, findings


def analyze(
    plans: tuple[Plan, ...], acknowledgements: tuple[Acknowledgement, ...], acknowledgements_file: str
) -> Report:
    stacks: list[StackReport] = []
    findings: list[Finding] = []
    for plan in plans:
        stack, found = analyze_stack(plan)
        stacks.append(stack)
        findings.extend(found)
    findings = policy.acknowledge(findings, acknowledgements, plans, acknowledgements_file)
    names = {p.stack for p in plans}
    order = {p.stack: index for index, p in enumerate(plans)}
    by_stack = {s.plan.stack: s for s in stacks}
    findings.sort(
        key=lambda f: (order[f.stack], by_stack[f.stack].name_of(f.address) or f.address, f.address, f.kind, f.message)
    )
    return Report(
        stacks=tuple(stacks),
        findings=tuple(findings),
        fingerprint=fingerprint(plans),
        acknowledgements_file=acknowledgements_file,
        acknowledgements_unchecked=sum(1 for a in acknowledgements if a.stack not in names),
    )
