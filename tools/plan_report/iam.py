"""IAM-style policy documents as a reviewer reads them: actions, ``*`` resources and principals, per statement.

Statements are grouped by (Sid, Effect); statements without a Sid share one group per effect, so reordering them is
not a change. Condition values are not shown (only which condition keys changed).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from tools.plan_report.markdown import code


@dataclass
class Group:
    actions: set[str] = field(default_factory=set)  # NotAction entries are prefixed with "NOT "
    resources: set[str] = field(default_factory=set)
    principals: set[str] = field(default_factory=set)  # "Service:logs.amazonaws.com", "AWS:arn…", "*"
    conditions: set[str] = field(default_factory=set)  # "StringEquals aws:SourceAccount"


Document = dict[tuple[str, str], Group]


def parse(text: Any) -> Document | None:
    """The statement groups of a policy document (a JSON string); None when it is not one."""
    if isinstance(text, dict):
        document: Any = text
    elif isinstance(text, str):
        try:
            document = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError):
            return None
    else:
        return None
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    groups: Document = {}
    for statement in statements:
        if isinstance(statement, dict):
            _add(groups, statement)
    return groups


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _principals(value: Any) -> set[str]:
    if value == "*":
        return {"*"}
    if isinstance(value, dict):
        return {f"{kind}:{item}" for kind, items in value.items() for item in _strings(items)}
    return set()


def _add(groups: Document, statement: dict[str, Any]) -> None:
    sid, effect = statement.get("Sid"), statement.get("Effect")
    sid = sid if isinstance(sid, str) else ""
    effect = effect if isinstance(effect, str) else "?"
    group = groups.setdefault((sid, effect), Group())
    group.actions |= set(_strings(statement.get("Action")))
    group.actions |= {f"NOT {a}" for a in _strings(statement.get("NotAction"))}
    group.resources |= set(_strings(statement.get("Resource")))
    group.resources |= {f"NOT {r}" for r in _strings(statement.get("NotResource"))}
    group.principals |= _principals(statement.get("Principal"))
    group.principals |= {f"NOT {p}" for p in _principals(statement.get("NotPrincipal"))}
    conditions = statement.get("Condition")
    if isinstance(conditions, dict):
        group.conditions |= {
            f"{operator} {key}"
            for operator, tests in conditions.items()
            for key in (tests if isinstance(tests, dict) else {})
        }


def _names(items: set[str]) -> str:
    return ", ".join(code(item) for item in sorted(items))


def _label(sid: str, effect: str) -> str:
    return f"{code(sid) if sid else 'statements without Sid'} ({effect})"


def diff_lines(before: Document, after: Document, star: str = "resource `*` ⚠️") -> list[str]:
    """One line per statement group that changed: added/removed actions, new ``*`` resources, new principals.
    ``star`` is how a ``*`` resource reads (in a key policy it means the key itself, not everything)."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        label = _label(*key)
        if old is None and new is not None:
            lines.append(f"{label} added: {_describe(new, star)}")
        elif new is None and old is not None:
            lines.append(f"{label} removed: {_describe(old, star)}")
        elif old is not None and new is not None:
            parts = _changes(old, new, star)
            if parts:
                lines.append(f"{label}: " + "; ".join(parts))
    return lines


def _describe(group: Group, star: str) -> str:
    parts = [f"actions {_names(group.actions)}" if group.actions else "no actions"]
    if "*" in group.resources:
        parts.append(star)
    if group.principals:
        parts.append(f"principals {_names(group.principals)}")
    return "; ".join(parts)


def _changes(old: Group, new: Group, star: str) -> list[str]:
    parts: list[str] = []
    if new.actions - old.actions:
        parts.append(f"new actions {_names(new.actions - old.actions)}")
    if old.actions - new.actions:
        parts.append(f"removed actions {_names(old.actions - new.actions)}")
    if "*" in new.resources and "*" not in old.resources:
        parts.append(f"new {star}")
    elif new.resources != old.resources:
        parts.append("resources changed")
    if new.principals - old.principals:
        parts.append(f"new principals {_names(new.principals - old.principals)}")
    if old.principals - new.principals:
        parts.append(f"removed principals {_names(old.principals - new.principals)}")
    if new.conditions != old.conditions:
        parts.append(f"conditions now {_names(new.conditions)}" if new.conditions else "conditions removed")
    return parts
