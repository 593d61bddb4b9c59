"""Markdown pieces that stay inert whatever a plan contains: values and names always go through these."""

import re
from typing import Any

MARKER = "<!-- ml-pipeline-plan-report -->"
_BACKTICKS = re.compile(r"`+")


def code(text: Any, limit: int = 120) -> str:
    """An inline code span holding ``text`` literally (one line, at most ``limit`` characters)."""
    value = " ".join(str(text).split()) if not isinstance(text, str) else text.replace("\r", " ").replace("\n", " ")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def plain(text: str) -> str:
    """Free text from a reviewed file (an acknowledgement's reason): one line, no HTML."""
    return " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(text: str) -> str:
    """Text for a table cell: a pipe, even inside a code span, is escaped, as GitHub's tables require."""
    return text.replace("|", "\\|")


def table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell(text) for text in cells) + " |\n"


def table_head(headers: list[str], numeric: frozenset[int] = frozenset()) -> str:
    rule = ["---:" if index in numeric else "---" for index in range(len(headers))]
    return table_row(headers) + "|" + "|".join(rule) + "|\n"


def scalar(value: Any) -> str:
    """A non-sensitive scalar as ``--show-values`` and the domain diffs render it."""
    if value is None:
        return code("null")
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, int | float | str):
        return code(value)
    return "(structure)"


def dollars(amount: float) -> str:
    return f"${amount:,.3f}"
