"""The Markdown report, and the size budget that trims it.

The document is a list of items; an item is a list of parts. The head — the marker, the phase flag, the summary, the
blocking and acknowledged items — is never cut. When the report is longer than the budget, detail goes in this fixed
order (``TRIM_ORDER``), each category from the end of the document backwards, until it fits:

1. the changed-attribute lists of updates that only touch tags or values known at apply (the row stays, "…");
2. the changed-attribute lists of the other rows (replacement reasons and forcing paths stay);
3. domain diffs of resources without a blocking or acknowledged finding;
4. drift rows;
5. change rows of resources without a blocking or acknowledged finding: reads, then creates, then imports, moves
   and forgets, then updates, then deletes and replacements;
6. warnings;
7. domain diffs of resources with a blocking or acknowledged finding;
8. their change rows (each of them is still named in the blocking or acknowledged items).

A section that lost items ends with "… N more <items> not shown"; a footer totals what is not shown, per category.
"""

from collections import Counter
from dataclasses import dataclass, field

from tools.plan_report.actions import CLASSES, label
from tools.plan_report.analysis import Report, Row, StackReport
from tools.plan_report.markdown import MARKER, cell, code, plain, scalar, table_head, table_row
from tools.plan_report.model import Finding
from tools.plan_report.paths import ChangedPath
from tools.plan_report.policy import reason_text

# Category -> what the footer calls it; the order is the trimming order.
TRIM_ORDER: dict[str, str] = {
    "noise": "attribute lists of updates that only touch tags or values known at apply",
    "details": "changed-attribute lists",
    "domain": "domain diffs",
    "drift": "drift rows",
    "rows": "change rows",
    "warnings": "warnings",
    "blocking-domain": "domain diffs of blocking or acknowledged resources",
    "blocking-rows": "change rows of blocking or acknowledged resources",
}
PART_CATEGORIES = frozenset({"noise", "details"})  # trimmed to "…"; the other categories remove whole items
SECTION_NOUNS = {"rows": "change rows", "domain": "domain diffs", "drift": "drift rows", "warnings": "warnings"}
ROW_PRIORITY = {"read": 0, "create": 1, "import": 2, "move": 2, "forget": 2, "update": 3}  # others: 4
LISTED = 25  # the phase flag names this many resources, then counts the rest


@dataclass
class Part:
    text: str
    category: str | None = None  # a part category of TRIM_ORDER, or None: goes with its item
    reduced: str = ""  # what stays once trimmed
    trimmed: bool = False

    def render(self) -> str:
        return self.reduced if self.trimmed else self.text


@dataclass
class Item:
    parts: list[Part]
    category: str | None = None  # an item category of TRIM_ORDER, or None: never removed
    priority: int = 0  # within its category, lower goes first
    section: str | None = None  # the section whose note counts it once removed
    note_for: str | None = None  # set on a note: "… N more not shown" for this section
    removed: bool = False

    def render(self) -> str:
        return "" if self.removed else "".join(part.render() for part in self.parts)


@dataclass
class Document:
    items: list[Item] = field(default_factory=list)
    max_chars: int = 0  # the budget the document was trimmed to (0: not trimmed)

    def add(self, text: str, category: str | None = None, section: str | None = None, priority: int = 0) -> None:
        self.items.append(Item([Part(text)], category, priority, section))

    def note(self, section: str) -> None:
        self.items.append(Item([], note_for=section))

    def not_shown(self) -> Counter[str]:
        """Per category: removed items, and trimmed parts of the items still shown."""
        counts: Counter[str] = Counter()
        for item in self.items:
            if item.removed:
                counts[item.category or ""] += 1
            else:
                counts.update(part.category or "" for part in item.parts if part.trimmed)
        return counts

    def removed_in(self, section: str) -> int:
        return sum(1 for item in self.items if item.removed and item.section == section)

    def render(self) -> str:
        removed = Counter(item.section for item in self.items if item.removed)
        body = "".join(_note(i.note_for, removed[i.note_for]) if i.note_for else i.render() for i in self.items)
        return body + self._footer(self.not_shown())

    def _footer(self, counts: Counter[str]) -> str:
        if not +counts:
            return ""
        listed = ", ".join(f"{counts[c]} {noun}" for c, noun in TRIM_ORDER.items() if counts[c])
        return (
            f"\n---\n_Trimmed to fit {self.max_chars:,} characters; the full report is in the job summary and the "
            f"workflow artifact. Not shown: {listed}._\n"
        )

    def trim(self, max_chars: int) -> None:
        """Drop detail in TRIM_ORDER until the document fits, or only what is never cut is left. The length is kept
        up to date step by step (the item, its section's note, the footer) rather than re-rendered."""
        self.max_chars = max_chars
        length = len(self.render())
        removed: Counter[str | None] = Counter()  # per section
        counts: Counter[str] = Counter()  # per category, as not_shown() counts
        for category in TRIM_ORDER:
            for target in self._candidates(category):
                if length <= max_chars:
                    return
                section = target.section if isinstance(target, Item) else None
                before = len(target.render()) + len(_note(section, removed[section])) + len(self._footer(counts))
                if isinstance(target, Item):
                    target.removed = True
                    removed[section] += 1
                    counts.subtract(part.category or "" for part in target.parts if part.trimmed)
                else:
                    target.trimmed = True
                counts[category] += 1
                after = len(target.render()) + len(_note(section, removed[section])) + len(self._footer(counts))
                length += after - before

    def _candidates(self, category: str) -> list[Item | Part]:
        """What a category trims, in order: from the end of the document backwards (lower priority first)."""
        if category in PART_CATEGORIES:
            return [
                p for item in reversed(self.items) if not item.removed for p in item.parts if p.category == category
            ]
        items = [(index, item) for index, item in enumerate(self.items) if item.category == category]
        return [item for _, item in sorted(items, key=lambda pair: (pair[1].priority, -pair[0]))]


def _note(section: str | None, removed: int) -> str:
    if not section or not removed:
        return ""
    return f"\n_… {removed} more {SECTION_NOUNS[section.rsplit(':', 1)[-1]]} not shown (see the full report)_\n\n"


# --- Building the document -------------------------------------------------------------------------------------------


class Builder:
    def __init__(self, report: Report, show_values: bool) -> None:
        self.report = report
        self.show_values = show_values
        self.doc = Document()
        self.stacks = {stack.plan.stack: stack for stack in report.stacks}
        self.flagged = {(f.stack, f.address) for f in report.findings if f.blocking}

    def build(self) -> Document:
        self.doc.add(f"{MARKER}\n## Terraform plan review\n\n")
        for stack in self.report.stacks:
            self._phase(stack)
        self._summary()
        self._findings("### ❌ Blocking", self.report.blocking, numbered=True)
        self._findings("### ✅ Acknowledged", self.report.acknowledged)
        self._warnings()
        for stack in self.report.stacks:
            self._changes(stack)
            self._domain(stack)
            self._drift(stack)
        return self.doc

    def _name(self, stack: StackReport, address: str) -> str:
        construct = stack.name_of(address)
        return f"{code(construct)} ({code(address)})" if construct else code(address)

    def _where(self, finding: Finding) -> str:
        if not finding.address:
            return code(finding.stack)
        return f"{code(finding.stack)} · {self._name(self.stacks[finding.stack], finding.address)}"

    # --- head: never cut -------------------------------------------------------------------------------------------

    def _phase(self, stack: StackReport) -> None:
        flip = stack.flip
        if flip is None:
            return
        destroying = [row for row in stack.rows if "delete" in row.change.actions]
        adds = [row for row in stack.rows if "create" in row.classes]
        updates = sum(1 for row in stack.rows if "update" in row.classes)
        if destroying:
            verdict = (
                f"**Not additive (blocking):** it deletes or replaces {len(destroying)} "
                f"({_listed([code(r.name) for r in destroying])}), adds {len(adds)} and updates {updates} in place."
            )
        else:
            verdict = f"Additive: it adds {len(adds)}, updates {updates} in place and deletes or replaces nothing."
        lines = [f"> **{flip.headline}.** {verdict}"]
        evidence = "; ".join(f"{code(stack.name_of(address) or address)}: {text}" for address, text in flip.evidence)
        lines.append(f"> - evidence: {evidence}")
        if adds:
            lines.append("> - adds: " + _listed([f"{code(r.name)} ({code(r.change.type)})" for r in adds]))
        for diff in stack.domain:
            lines.extend(f"> - {diff.title}: {line}" for line in diff.lines if line.startswith(("starts", "stops")))
        self.doc.add("\n".join(lines) + "\n\n")

    def _summary(self) -> None:
        report = self.report
        headers = ["Stack", *(label((key,)) for key in CLASSES), "drift"]
        text = "### Summary\n\n" + table_head(headers, frozenset(range(1, len(headers))))
        for stack in report.stacks:
            counts = [str(stack.counts[key]) for key in CLASSES]
            text += table_row([code(stack.plan.stack), *counts, str(len(stack.drift))])
        verdict = f"❌ {len(report.blocking)} blocking" if report.blocking else "✅ nothing blocking"
        parts = [
            f"**Result: {verdict}**",
            f"{len(report.acknowledged)} acknowledged",
            _count(report.warnings, "warning"),
        ]
        if report.acknowledgements_unchecked:
            parts.append(f"{report.acknowledgements_unchecked} acknowledgements for stacks not in this run")
        text += "\n" + " · ".join(parts) + f"\n\nPlan fingerprint: {code('sha256:' + report.fingerprint, 80)}\n\n"
        if report.blocking:
            text += (
                'To accept a blocking item, add `{"stack": …, "address": …, "reason": …}` for it to '
                f"{code(report.acknowledgements_file)} in this pull request: reviewing that file is the approval.\n\n"
            )
        self.doc.add(text)

    def _findings(self, title: str, findings: list[Finding], numbered: bool = False) -> None:
        if not findings:
            return
        lines = [f"{title} ({len(findings)})\n"]
        for index, finding in enumerate(findings, start=1):
            line = f"{index}." if numbered else "-"
            line += f" {self._where(finding)}: {finding.message}"
            if finding.acknowledged_reason is not None:
                line += f" — acknowledged: _{plain(finding.acknowledged_reason)}_"
            lines.append(line)
        self.doc.add("\n".join(lines) + "\n\n")

    # --- detail: trimmed in TRIM_ORDER -----------------------------------------------------------------------------

    def _warnings(self) -> None:
        if not self.report.warnings:
            return
        self.doc.add(f"### ⚠️ Warnings ({len(self.report.warnings)})\n\n")
        for finding in self.report.warnings:
            self.doc.add(f"- {self._where(finding)}: {finding.message}\n", "warnings", "warnings")
        self.doc.note("warnings")
        self.doc.add("\n")

    def _changes(self, stack: StackReport) -> None:
        name = stack.plan.stack
        if not stack.rows:
            self.doc.add(f"### {code(name)}: no changes\n\n")
            return
        named = bool(stack.plan.constructs)
        headers = ["Construct", "Action", "Address", "Details"] if named else ["Address", "Action", "Details"]
        self.doc.add(f"### {code(name)}: changes\n\n" + table_head(headers))
        for row in stack.rows:
            self.doc.items.append(self._row(stack, row, named))
        self.doc.note(f"{name}:rows")
        if any(row.derived for row in stack.rows):
            self.doc.add("\n(≈): not in the synthesized stack (it is being deleted); path read from its logical id.\n")
        self.doc.add("\n")

    def _row(self, stack: StackReport, row: Row, named: bool) -> Item:
        address = code(row.change.label)
        if named:
            construct = code(row.construct) + (" (≈)" if row.derived else "") if row.construct else ""
            cells = [construct, label(row.classes), address]
        else:
            cells = [address, label(row.classes)]
        reason = _reason(row)
        parts = [Part("| " + " | ".join(cell(c) for c in cells) + " | "), Part(cell(reason))]
        paths = self._paths(row.changed, replacing=any(c.startswith("replace") for c in row.classes))
        if paths:
            joiner = " · " if reason else ""
            category = "noise" if row.noise else "details"
            parts.append(Part(cell(f"{joiner}changes: {paths}"), category, reduced=f"{joiner}…"))
        parts.append(Part(" |\n"))
        flagged = (stack.plan.stack, row.change.address) in self.flagged
        return Item(
            parts,
            category="blocking-rows" if flagged else "rows",
            priority=max((ROW_PRIORITY.get(c, 4) for c in row.classes), default=4),
            section=f"{stack.plan.stack}:rows",
        )

    def _paths(self, changed: tuple[ChangedPath, ...], replacing: bool = False) -> str:
        """The changed paths, never their sensitive values. For a replacement the values the new object gets only at
        apply are counted rather than listed: they are all new."""
        later = sum(1 for path in changed if path.unknown) if replacing else 0
        texts = []
        for path in changed:
            if path.unknown and replacing:
                continue
            text = code(path.text or "(whole value)")
            if path.sensitive:
                text += " (sensitive)"
            elif path.unknown:
                text += " (known after apply)"
            elif self.show_values:
                text += f": {scalar(path.before)} → {scalar(path.after)}"
            texts.append(text)
        if later:
            texts.append(f"{later} more known only after apply")
        return ", ".join(texts)

    def _domain(self, stack: StackReport) -> None:
        if not stack.domain:
            return
        self.doc.add(f"#### {code(stack.plan.stack)}: domain diffs\n\n")
        for diff in stack.domain:
            category = "blocking-domain" if (stack.plan.stack, diff.address) in self.flagged else "domain"
            text = f"**{diff.title}**\n" + "".join(f"- {line}\n" for line in diff.lines) + "\n"
            self.doc.add(text, category, f"{stack.plan.stack}:domain")
        self.doc.note(f"{stack.plan.stack}:domain")

    def _drift(self, stack: StackReport) -> None:
        if not stack.drift and not stack.drift_hidden:
            return
        hidden = (
            f' {stack.drift_hidden} more only swap empty values (null, "", {{}}, []) or touch attributes this plan '
            "neither uses nor sets: like Terraform's own plan output, the report leaves them out."
            if stack.drift_hidden
            else ""
        )
        self.doc.add(
            f"#### {code(stack.plan.stack)}: drift (changed outside Terraform)\n\n"
            f"Terraform found these when it refreshed; the planned changes above already account for them.{hidden}\n\n"
        )
        if not stack.drift:
            return
        self.doc.add(table_head(["Resource", "Drift", "Attributes"]))
        for row in stack.drift:
            what = DRIFT_ACTIONS.get(row.change.actions, " + ".join(row.change.actions))
            if row.change.address in stack.drift_reverted:
                what += "; this plan changes it back"
            attributes = self._paths(row.changed) or "—"
            self.doc.add(
                table_row([self._name(stack, row.change.address), what, attributes]),
                "drift",
                f"{stack.plan.stack}:drift",
            )
        self.doc.note(f"{stack.plan.stack}:drift")
        self.doc.add("\n")


DRIFT_ACTIONS: dict[tuple[str, ...], str] = {
    ("update",): "changed outside Terraform",
    ("delete",): "deleted outside Terraform",
}


def _count(items: list[Finding], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - LISTED} more (see the changes table)" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def _reason(row: Row) -> str:
    parts = [reason_text(row.change)]
    if row.change.previous_address:
        parts.append(f"moved from {code(row.change.previous_address)}")
    if row.change.importing:
        parts.append("imported")
    return " · ".join(part for part in parts if part)


def render(report: Report, show_values: bool = False, max_chars: int | None = None) -> str:
    """The report as Markdown; trimmed to ``max_chars`` when given (the head is never cut)."""
    document = Builder(report, show_values).build()
    if max_chars is not None:
        document.trim(max_chars)
    return document.render()
