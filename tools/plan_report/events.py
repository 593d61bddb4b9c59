"""EventBridge rules: the schedule is shown; an event pattern is shown as the paths that changed."""

import json
from typing import Any

from tools.plan_report.markdown import code
from tools.plan_report.paths import changed_paths


def _pattern(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def pattern_lines(before: Any, after: Any) -> list[str]:
    """The event pattern's changed paths (values left out: a pattern names buckets, prefixes, accounts)."""
    old, new = _pattern(before), _pattern(after)
    if old == new:
        return []
    if old is None:
        return ["event pattern added"]
    if new is None:
        return ["event pattern removed"]
    paths = [p.text or "(whole pattern)" for p in changed_paths(old, new, None, None, None)]
    return ["event pattern changed at " + ", ".join(code(p) for p in paths)]


def schedule_line(before: Any, after: Any) -> list[str]:
    if before == after or (not before and not after):
        return []
    return [f"schedule {code(before) if before else '(none)'} → {code(after) if after else '(none)'}"]
