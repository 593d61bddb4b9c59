"""Strict JSON for the reviewed configuration: what Python's ``json`` accepts but a reviewer would not expect.

``json.loads`` keeps the last of two equal keys, accepts ``NaN`` and ``Infinity``, turns ``1e400`` into infinity and
fails with a bare ``ValueError`` on integer literals thousands of digits long. :func:`parse` reads the text with hooks
that keep each of those as a visible :class:`Refused` value and returns every problem with its place in the document,
so the config loader can report it as "environment 'dev', field 'x': ..." like any other problem.
"""

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32  # the configuration schema nests 5 levels; anything deeper is a mistake, and recursion stays bounded
MAX_INT_DIGITS = 20  # every integer AWS takes fits in 64 bits (19 digits); longer literals are refused unparsed


@dataclass(frozen=True)
class Refused:
    """A JSON value strict JSON refuses, kept in place so its location can be named."""

    literal: str
    reason: str


Location = tuple[str | int, ...]


class _Object(dict[str, Any]):
    """A JSON object that remembers which of its keys appeared more than once."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicates: dict[str, None] = {}  # ordered set
        for key, _ in pairs:
            if key in seen:
                duplicates[key] = None
            seen.add(key)
        result.duplicates = tuple(duplicates)
    return result


def _number(literal: str) -> float | Refused:
    value = float(literal)
    return value if math.isfinite(value) else Refused(literal, "is outside the range of a finite number")


def _integer(literal: str) -> int | Refused:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        shown = literal if len(literal) <= 24 else f"{literal[:12]}…({len(literal)} digits)"
        return Refused(shown, f"has more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _constant(literal: str) -> Refused:
    return Refused(literal, "is not JSON (NaN and Infinity are JavaScript, not JSON)")


class StrictJsonError(ValueError):
    """The text is not JSON at all (syntax, encoding, nesting); nothing can be located inside it."""


def parse(data: bytes) -> tuple[Any, list[tuple[Location, str]]]:
    """Parse UTF-8 JSON; return the document (refused values kept in place) and every (location, problem)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StrictJsonError(f"not UTF-8 text (byte {error.start}: {error.reason})") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_object, parse_float=_number, parse_int=_integer, parse_constant=_constant
        )
    except json.JSONDecodeError as error:
        raise StrictJsonError(f"not valid JSON: {error}") from None
    except RecursionError:
        raise StrictJsonError(f"not valid configuration: nested deeper than {MAX_DEPTH} levels") from None
    problems: list[tuple[Location, str]] = []
    _walk(document, (), problems)
    return document, problems


def _walk(value: Any, location: Location, problems: list[tuple[Location, str]]) -> None:
    if len(location) > MAX_DEPTH:
        problems.append((location, f"is nested deeper than {MAX_DEPTH} levels"))
        return
    if isinstance(value, Refused):
        problems.append((location, f"{value.literal} {value.reason}"))
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append((location, "contains an unpaired surrogate escape (\\ud800-\\udfff); not valid Unicode"))
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            problems.append(((*location, key), "is given more than once (JSON would silently keep the last one)"))
        for key, item in value.items():
            _walk(key, (*location, key), problems)
            _walk(item, (*location, key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*location, index), problems)
