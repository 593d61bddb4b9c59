"""Typed reading of environment variables. Every error names the variable, never just "bad config"."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable


class ConfigError(RuntimeError):
    """An environment variable is missing or has a value the function cannot use."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"environment variable {name} {problem}")
        self.variable = name


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str:
    """A string; without a default the variable is required."""
    value = _raw(name)
    if value is not None:
        return value
    if default is None:
        raise ConfigError(name, "is required but not set")
    return default


def env_int(name: str, default: int | None = None, *, minimum: int | None = None) -> int:
    """An integer (optionally bounded below); without a default the variable is required."""
    raw = _raw(name)
    if raw is None:
        if default is None:
            raise ConfigError(name, "is required but not set")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float | None = None) -> float:
    """A finite float; without a default the variable is required."""
    raw = _raw(name)
    if raw is None:
        if default is None:
            raise ConfigError(name, "is required but not set")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number, got {raw!r}")
    return value


def env_flag(name: str) -> bool:
    """True only for "true" (any case). Anything else, including unset, is False: the flag fails closed."""
    raw = _raw(name)
    return raw is not None and raw.lower() == "true"


def env_choice(name: str, choices: Iterable[str], default: str) -> str:
    """One of a fixed set of lower-case values."""
    allowed = tuple(choices)
    value = env_str(name, default).lower()
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value
