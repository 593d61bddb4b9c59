"""Attribute paths: how they read, where Terraform marks them sensitive or unknown, and which leaves changed.

``before_sensitive``, ``after_sensitive`` and ``after_unknown`` mirror the value they describe: ``true`` at a node
covers everything below it, objects and lists descend, anything else means "not marked".
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tools.plan_report.model import AttrPath

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MISSING = object()


def format_path(path: AttrPath) -> str:
    """``("production_variants", 0, "instance_type")`` -> ``production_variants[0].instance_type``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _PLAIN_KEY.match(step):
            text += f".{step}" if text else step
        else:
            text += '["' + step.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return text


def step_into(marks: Any, step: str | int) -> Any:
    """The marks one step down: ``true`` stays ``true``; objects and lists descend; anything else is unmarked."""
    if marks is True:
        return True
    if isinstance(marks, dict) and isinstance(step, str):
        return marks.get(step, False)
    if isinstance(marks, list) and isinstance(step, int) and 0 <= step < len(marks):
        return marks[step]
    return False


def marks_at(marks: Any, path: AttrPath) -> Any:
    for step in path:
        marks = step_into(marks, step)
    return marks


def any_marked(marks: Any) -> bool:
    """Whether a mark subtree marks anything: ``true`` itself or somewhere below."""
    if marks is True:
        return True
    if isinstance(marks, dict):
        return any(any_marked(value) for value in marks.values())
    if isinstance(marks, list):
        return any(any_marked(value) for value in marks)
    return False


def value_at(value: Any, path: AttrPath) -> Any:
    """The value at a path, or None when the path does not exist (or goes through a value of another shape)."""
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return None
    return value


@dataclass(frozen=True)
class ChangedPath:
    """A leaf (or a subtree that is sensitive or unknown as a whole) whose value differs between before and after."""

    path: AttrPath
    sensitive: bool = False
    unknown: bool = False  # known only at apply
    before: Any = None  # never rendered when sensitive
    after: Any = None

    @property
    def text(self) -> str:
        return format_path(self.path)


def changed_paths(
    before: Any, after: Any, before_sensitive: Any, after_sensitive: Any, after_unknown: Any
) -> list[ChangedPath]:
    """Every path whose value changes, in a stable order; a sensitive or unknown subtree is one entry, not descended."""
    return list(_diff(before, after, before_sensitive, after_sensitive, after_unknown, ()))


def _diff(b: Any, a: Any, bs: Any, as_: Any, au: Any, path: AttrPath) -> Iterator[ChangedPath]:
    if au is True:
        yield ChangedPath(path, sensitive=bs is True or as_ is True, unknown=True)
        return
    if bs is True or as_ is True:
        if _normal(b) != _normal(a):
            yield ChangedPath(path, sensitive=True)
        return
    if isinstance(b, dict | type(None)) and isinstance(a, dict | type(None)) and (b or a):
        b_map, a_map = b or {}, a or {}
        keys = set(b_map) | set(a_map) | (set(au) if isinstance(au, dict) else set())
        for key in sorted(keys):
            yield from _diff(
                b_map.get(key),
                a_map.get(key),
                step_into(bs, key),
                step_into(as_, key),
                step_into(au, key),
                (*path, key),
            )
        return
    if isinstance(b, list) and isinstance(a, list):
        for index in range(max(len(b), len(a))):
            yield from _diff(
                b[index] if index < len(b) else None,
                a[index] if index < len(a) else None,
                step_into(bs, index),
                step_into(as_, index),
                step_into(au, index),
                (*path, index),
            )
        return
    if _normal(b) != _normal(a):
        yield ChangedPath(path, before=b, after=a)


def _normal(value: Any) -> Any:
    """Booleans are not numbers here (Python's True == 1 would hide a type change)."""
    if isinstance(value, bool):
        return ("bool", value)
    return value
