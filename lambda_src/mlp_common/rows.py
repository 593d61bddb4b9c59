"""The row rules of a raw upload (JSON Lines), written once: preprocess applies them, validate checks them.

A row is `{"id": str, "features": [numbers], "label"?: number}`. Each line is judged alone, so one bad row never costs a
good one: it is rejected with a reason written for people (the rule it broke, never its value). Blank lines are
skipped, a UTF-8 BOM before the first line and a CR before each LF are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlp_common.features import FeatureError, LoneSurrogateError, finite_number, loads_strict, validate_features

MAX_ID_LENGTH = 128
MAX_RAW_BYTES = 1024  # a rejected row keeps at most 1 KiB of its original text
LABEL_RULE = "label must be a finite number"
_BOM = b"\xef\xbb\xbf"


@dataclass
class ParsedObject:
    records: list[dict[str, Any]]  # {"id": str, "features": [float], "label"?: float}, raw (un-normalised) features
    rejected: list[dict[str, Any]]  # {"line": n, "reason": str, "raw": str}
    lines: list[int] = field(default_factory=list)  # the line number of each record


def parse_lines(data: bytes, feature_count: int, *, require_label: bool = False) -> ParsedObject:
    """Every non-blank line of `data`, as a record or as a rejection with its line number and reason."""
    parsed = ParsedObject(records=[], rejected=[])
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = clean_line(number, line)
        if not line.strip():
            continue
        try:
            parsed.records.append(parse_row(line, feature_count, require_label=require_label))
        except ValueError as err:
            parsed.rejected.append(rejection(number, str(err), line))
        else:
            parsed.lines.append(number)
    return parsed


def clean_line(number: int, line: bytes) -> bytes:
    if number == 1 and line.startswith(_BOM):
        line = line[len(_BOM) :]
    return line.rstrip(b"\r")


def rejection(number: int, reason: str, line: bytes) -> dict[str, Any]:
    return {"line": number, "reason": reason, "raw": line[:MAX_RAW_BYTES].decode("utf-8", "replace")}


def parse_row(line: bytes, feature_count: int, *, require_label: bool = False) -> dict[str, Any]:
    """One JSON Lines row → {"id", "features"} plus "label" when the row has one; unknown keys are dropped.

    A `label` key, when present, must hold a finite number (bools refused); `require_label` makes it mandatory.
    Raises ValueError with the reason.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("line is not valid UTF-8") from None
    try:
        row = loads_strict(text)
    except LoneSurrogateError:
        raise ValueError("line holds a lone surrogate (not valid Unicode)") from None
    except ValueError:
        raise ValueError("line is not valid JSON") from None
    if not isinstance(row, dict):
        raise ValueError("line is not a JSON object")
    record_id = row.get("id")
    if not isinstance(record_id, str) or not 0 < len(record_id) <= MAX_ID_LENGTH:
        raise ValueError(f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    try:
        features = validate_features(row.get("features"), feature_count)
    except FeatureError as err:
        raise ValueError(str(err)) from None
    record: dict[str, Any] = {"id": record_id, "features": features}
    if "label" in row or require_label:
        label = finite_number(row.get("label"))
        if label is None:
            raise ValueError(LABEL_RULE)
        record["label"] = label
    return record
