"""Step Functions definitions as a semantic diff: states added and removed, and per state its Type, Resource,
transitions, Retry and Catch. Nested states (Map item processors, Parallel branches) are named ``Outer/Inner``.
Other fields that changed are named, not shown (Parameters can carry anything)."""

import json
from typing import Any

from tools.plan_report.markdown import code

_SHOWN = ("Type", "Resource")
_STRUCTURE = frozenset({"Type", "Resource", "Next", "End", "Default", "Choices", "Retry", "Catch"})
_NESTED = frozenset({"ItemProcessor", "Iterator", "Branches"})


def parse(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        definition = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return definition if isinstance(definition, dict) else None


def states(definition: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every state by qualified name, nested ones included."""
    found: dict[str, dict[str, Any]] = {}
    table = definition.get("States")
    for name, state in (table if isinstance(table, dict) else {}).items():
        if not isinstance(state, dict):
            continue
        found[prefix + name] = state
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                found |= states(state[key], f"{prefix}{name}/")
        branches = state.get("Branches")
        for index, branch in enumerate(branches if isinstance(branches, list) else []):
            if isinstance(branch, dict):
                found |= states(branch, f"{prefix}{name}[{index}]/")
    return found


def transitions(state: dict[str, Any]) -> list[str]:
    """Where a state can go next: Next, each Choice rule's Next, Default; End as "(end)"."""
    targets = [state["Next"]] if isinstance(state.get("Next"), str) else []
    choices = state.get("Choices")
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            targets.append(choice["Next"])
    if isinstance(state.get("Default"), str):
        targets.append(state["Default"])
    if state.get("End") is True or state.get("Type") in ("Succeed", "Fail"):
        targets.append("(end)")
    return targets


def _errors(rule: dict[str, Any]) -> str:
    errors = rule.get("ErrorEquals")
    return "|".join(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else "?"


def retry_text(retry: Any) -> str:
    """``States.ALL: 3 attempts, 1s apart, backoff 2.0`` per retrier (ASL defaults filled in)."""
    rules = [r for r in retry if isinstance(r, dict)] if isinstance(retry, list) else []
    if not rules:
        return "none"
    texts = []
    for rule in rules:
        text = (
            f"{_errors(rule)}: {rule.get('MaxAttempts', 3)} attempts, {rule.get('IntervalSeconds', 1)}s apart, "
            f"backoff {rule.get('BackoffRate', 2.0)}"
        )
        if "MaxDelaySeconds" in rule:
            text += f", at most {rule['MaxDelaySeconds']}s"
        if "JitterStrategy" in rule:
            text += f", jitter {rule['JitterStrategy']}"
        texts.append(text)
    return "; ".join(texts)


def catch_text(catch: Any) -> str:
    rules = [r for r in catch if isinstance(r, dict)] if isinstance(catch, list) else []
    return "; ".join(f"{_errors(r)} → {r.get('Next', '?')}" for r in rules) if rules else "none"


def diff_lines(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if before.get("StartAt") != after.get("StartAt"):
        lines.append(f"StartAt {code(before.get('StartAt'))} → {code(after.get('StartAt'))}")
    old, new = states(before), states(after)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    if added:
        lines.append("states added: " + ", ".join(f"{code(n)} ({code(new[n].get('Type'))})" for n in added))
    if removed:
        lines.append("states removed: " + ", ".join(code(n) for n in removed))
    for name in sorted(set(old) & set(new)):
        parts = _state_changes(old[name], new[name])
        if parts:
            lines.append(f"{code(name)}: " + "; ".join(parts))
    return lines


def _state_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    parts = [f"{key} {code(old.get(key))} → {code(new.get(key))}" for key in _SHOWN if old.get(key) != new.get(key)]
    if transitions(old) != transitions(new):
        parts.append(f"next {_list(transitions(old))} → {_list(transitions(new))}")
    if old.get("Retry") != new.get("Retry"):
        parts.append(f"Retry {code(retry_text(old.get('Retry')))} → {code(retry_text(new.get('Retry')))}")
    if old.get("Catch") != new.get("Catch"):
        parts.append(f"Catch {code(catch_text(old.get('Catch')))} → {code(catch_text(new.get('Catch')))}")
    others = sorted(
        key
        for key in set(old) | set(new)
        if key not in _STRUCTURE and key not in _NESTED and old.get(key) != new.get(key)
    )
    if others:
        parts.append("also changed: " + ", ".join(code(k) for k in others))
    return parts


def _list(items: list[str]) -> str:
    return ", ".join(code(item) for item in items) if items else "(none)"
