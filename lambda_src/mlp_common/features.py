"""Feature-vector validation shared by the API, the stream consumer and the preprocessor.

Messages are written for clients: they name the field and the rule, never echo the offending value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# DynamoDB stores numbers in [1e-130, 9.99e125] (by magnitude); a value outside cannot be recorded.
MAX_ABS_FEATURE = 1e125
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# json.loads joins a valid escaped pair ("\ud83d\ude00") into one code point, so any surrogate left is a lone one.
_SURROGATE = re.compile("[\ud800-\udfff]")


class FeatureError(ValueError):
    """Invalid input; `str(err)` is safe to return to a client."""


class LoneSurrogateError(ValueError):
    """JSON text whose strings hold an unpaired UTF-16 surrogate (`"\\ud800"`): valid JSON syntax, but not Unicode text.

    No UTF-8 encoder (botocore's, ours) can write such a string, so it would fail the write of a whole batch or object.
    I-JSON (RFC 7493 §2.1) forbids it; `loads_strict` refuses it wherever it appears, keys and unused fields included.
    """


def validate_features(value: Any, count: int) -> list[float]:
    """Exactly `count` finite numbers (bools are not numbers here) → list of floats."""
    if not isinstance(value, list) or len(value) != count:
        raise FeatureError(f"features must be a list of {count} numbers")
    result = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise FeatureError(f"features[{index}] must be a number")
        result.append(_finite(item, index))
    return result


def finite_number(value: Any) -> float | None:
    """A JSON number as a finite float; None for a non-number (bools included), NaN/±Infinity or an int too large for a
    float (float(10**400) raises OverflowError: such an int is no more usable than Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_csv_features(text: str, count: int) -> list[float]:
    """Parse "1.5,2,3" into [1.5, 2.0, 3.0]; strict: no blanks, no nan/inf, no Python-only forms such as "1_0"."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != count:
        raise FeatureError(f"features must be a list of {count} numbers")
    result = []
    for index, part in enumerate(parts):
        if not _NUMBER.fullmatch(part):
            raise FeatureError(f"features[{index}] must be a number")
        result.append(_finite(part, index))
    return result


def loads_strict(text: str | bytes) -> Any:
    """json.loads that refuses NaN/Infinity and lone surrogates and survives hostile nesting; raises ValueError.

    A lone surrogate raises the subclass LoneSurrogateError, so callers can say which rule the input broke.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if has_lone_surrogate(value):
        raise LoneSurrogateError("JSON string holds a lone surrogate")
    return value


def has_lone_surrogate(value: Any) -> bool:
    """True if any string (or object key) in a parsed JSON value holds an unpaired surrogate.

    Iterative, not recursive: the value may be nested as deeply as json.loads allows.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def to_csv(features: list[float]) -> str:
    return ",".join(repr(value) for value in features)


def _finite(value: int | float | str, index: int) -> float:
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise FeatureError(f"features[{index}] must be a finite number") from None
    if not math.isfinite(number):
        raise FeatureError(f"features[{index}] must be a finite number")
    if abs(number) > MAX_ABS_FEATURE:
        raise FeatureError(f"features[{index}] must be between -1e125 and 1e125")
    return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
