"""Hypothesis strategies for the handler property tests: hostile values, event mutations, rows and records.

"Hostile" means what fuzzing found or could find: lone surrogates, non-ASCII text, ints too large for a float,
NaN/±Infinity (a Lambda event is parsed by a JSON reader that accepts them), numbers DynamoDB cannot store, and
values of the wrong type at every place of an event.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import settings
from hypothesis import strategies as st

# Surrogate code points; st.text() never draws them (category Cs is excluded by default), so a surrogate placed
# between two drawn texts always stays lone.
LONE_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT_WITH_LONE_SURROGATE = st.builds(
    lambda head, surrogate, tail: head + surrogate + tail, st.text(max_size=6), LONE_SURROGATE, st.text(max_size=6)
)
# Ints no float can hold (float() raises OverflowError), up to the 4300 digits Python's int/str conversion allows.
HUGE_INTS = st.builds(lambda exponent, sign: sign * 10**exponent, st.integers(309, 4299), st.sampled_from([1, -1]))
HUGE_INTS |= st.integers(min_value=2**1024, max_value=2**1100)
NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])
OUT_OF_DYNAMODB_RANGE = st.sampled_from([1e126, -1e126, 1e200, 1.7e308])

NON_TEXT_SCALARS = (
    st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | HUGE_INTS
    | NON_FINITE
    | OUT_OF_DYNAMODB_RANGE
)
HOSTILE_TEXT = (
    st.text(max_size=12)
    | TEXT_WITH_LONE_SURROGATE
    | st.sampled_from(["", "é" * 5, "💥", "\x00", "\u2028", "ALARM", "true", "1e999"])
)
HOSTILE_SCALARS = st.none() | NON_TEXT_SCALARS | HOSTILE_TEXT
_KEYS = st.text(max_size=8) | TEXT_WITH_LONE_SURROGATE
# Any value a Lambda event might carry, hostile scalars at any depth (keys may hold lone surrogates too).
HOSTILE_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)
_HOSTILE_LISTS = st.lists(HOSTILE_VALUES, max_size=4)
_HOSTILE_OBJECTS = st.dictionaries(_KEYS, HOSTILE_VALUES, max_size=4)
# JSON that a strict reader accepts (no surrogates, no NaN): what a well-behaved client could send, in any shape.
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

# Valid feature values: finite, within DynamoDB's range, bools excluded (ints included: JSON has no float type).
FEATURE_VALUES = st.floats(min_value=-1e125, max_value=1e125, allow_nan=False) | st.integers(-(10**18), 10**18)
# Text that strict JSON and UTF-8 accept: non-ASCII welcome, lone surrogates never.
CLEAN_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


# Model answers: (body, the prediction it means) for the accepted shapes, and bodies (or an error) that are the model's
# failure — a lone surrogate, a number DynamoDB cannot store, an int no float holds, NaN, a wrong shape, bad UTF-8.
GOOD_ANSWERS = st.one_of(
    st.floats(-1e125, 1e125).map(lambda x: (json.dumps(x).encode(), x)),
    st.floats(-1e125, 1e125).map(lambda x: (json.dumps({"predictions": [{"score": x}]}).encode(), x)),
    st.integers(-(10**20), 10**20).map(lambda x: (json.dumps({"predictions": [x]}).encode(), x)),
    CLEAN_TEXT.map(lambda label: (json.dumps(label, ensure_ascii=False).encode(), label)),
)
BAD_ANSWERS = st.one_of(
    TEXT_WITH_LONE_SURROGATE.map(lambda label: json.dumps(label).encode()),
    TEXT_WITH_LONE_SURROGATE.map(lambda label: json.dumps({"predictions": [label]}).encode()),
    TEXT_WITH_LONE_SURROGATE.map(lambda label: json.dumps(label, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    HUGE_INTS.map(lambda number: str(number).encode()),
    OUT_OF_DYNAMODB_RANGE.map(lambda number: json.dumps({"predictions": [{"score": number}]}).encode()),
    st.sampled_from([b"NaN", b"-Infinity", b"1e999", b'""', b"null", b"true", b"[]", b'{"predictions": []}']),
    st.sampled_from([b"\xff\xfe", b"<html>oops</html>", json.dumps("x" * 1025).encode()]),
    st.builds(ClientError, st.just({"Error": {"Code": "ModelError", "Message": "crashed"}}), st.just("InvokeEndpoint")),
)


def feature_vectors(count: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(FEATURE_VALUES, min_size=count, max_size=count)


def bad_feature_vectors(count: int) -> st.SearchStrategy[Any]:
    """A `features` value that validation must refuse, whatever the draw."""
    wrong_element = HUGE_INTS | NON_FINITE | OUT_OF_DYNAMODB_RANGE | st.booleans() | st.none() | st.text(max_size=5)
    wrong_element |= st.lists(FEATURE_VALUES, max_size=2) | st.dictionaries(st.text(max_size=3), FEATURE_VALUES)

    @st.composite
    def one_bad_element(draw: st.DrawFn) -> list[Any]:
        features = draw(feature_vectors(count))
        features[draw(st.integers(0, count - 1))] = draw(wrong_element)
        return features

    wrong_length = st.lists(FEATURE_VALUES, max_size=2 * count).filter(lambda values: len(values) != count)
    not_a_list = HOSTILE_SCALARS | st.dictionaries(st.text(max_size=3), FEATURE_VALUES, max_size=3)
    return one_bad_element() | wrong_length | not_a_list


def json_text(value: Any, draw: st.DrawFn) -> str:
    """`value` as JSON text, escaped to ASCII or not: both forms must behave the same."""
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


# --- mutation of a valid event at one place -----------------------------------------------------------------------


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a nested dict/list, the root `()` first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    """A copy of `value` with the place at `path` replaced (the root when `path` is empty)."""
    if not path:
        return replacement
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], replacement)
    return copy


def removed(value: Any, path: tuple[Any, ...]) -> Any:
    """A copy of `value` without the dict key at `path` (a list item becomes None instead)."""
    if len(path) == 1:
        copy: Any = dict(value) if isinstance(value, dict) else list(value)
        if isinstance(copy, dict):
            del copy[path[0]]
        else:
            copy[path[0]] = None
        return copy
    return replaced(value, path[:1], removed(value[path[0]], path[1:]))


@st.composite
def mutated(draw: st.DrawFn, event: Any, values: st.SearchStrategy[Any] = HOSTILE_VALUES) -> Any:
    """`event` with one place (possibly the root) replaced by a drawn value, or one key removed."""
    path = draw(st.sampled_from(list(paths(event))))
    if path and draw(st.booleans()):
        return removed(event, path)
    return replaced(event, path, draw(values))


def value_of_wrong_type(expected: type) -> st.SearchStrategy[Any]:
    """A non-null value that is not of `expected` type (dict, list or str; bools are none of them)."""
    others = {
        dict: NON_TEXT_SCALARS | HOSTILE_TEXT | _HOSTILE_LISTS,
        list: NON_TEXT_SCALARS | HOSTILE_TEXT | _HOSTILE_OBJECTS,
        str: NON_TEXT_SCALARS | _HOSTILE_LISTS | _HOSTILE_OBJECTS,
    }
    return others[expected]


def examples(count: int) -> settings:
    """`count` examples under the "ci" profile (100 by default), scaled with the active profile (deep: 10x).

    For tests where one example costs more than a few ms (moto calls): fewer examples, same share of a deeper hunt.
    """
    return settings(max_examples=max(1, count * settings().max_examples // 100))


# --- JSON Lines rows of a raw upload (preprocess, validate) -------------------------------------------------------

# A valid label: any finite number a float holds (ints included, bools excluded).
LABEL_VALUES = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)
# The JSON text of a `label` the row rules refuse, whatever the draw. NaN/Infinity are written as literals (the line
# is then not valid JSON at all); 1e400 is a valid JSON number that parses to Infinity.
BAD_LABEL_TEXTS = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    HUGE_INTS,
    NON_FINITE,
    st.lists(LABEL_VALUES, max_size=2),
    st.dictionaries(st.text(max_size=3), LABEL_VALUES, max_size=2),
).map(json.dumps) | st.sampled_from(["1e400", "-1e400"])
_ROW_KEYS = ("id", "features", "label")


def _dumps(value: Any, draw: st.DrawFn) -> bytes:
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def valid_row(draw: st.DrawFn, count: int, label: bool | None = None) -> tuple[bytes, dict[str, Any]]:
    """(line, the record it means: {"id", "features" as floats, "label"? as a float}); `label` None: maybe one."""
    row = draw(st.dictionaries(st.text(max_size=6).filter(lambda key: key not in _ROW_KEYS), JSON_VALUES, max_size=2))
    row["id"] = draw(CLEAN_TEXT | st.text(min_size=128, max_size=128))  # st.text never draws a surrogate
    row["features"] = draw(feature_vectors(count))
    record = {"id": row["id"], "features": [float(value) for value in row["features"]]}
    if draw(st.booleans()) if label is None else label:
        row["label"] = draw(LABEL_VALUES)
        record["label"] = float(row["label"])
    return _dumps(row, draw), record


@st.composite
def invalid_row(draw: st.DrawFn, count: int) -> bytes:
    """A line the row rules reject, whatever the draw (with or without a label required)."""
    good: dict[str, Any] = {"id": "r", "features": list(range(1, count + 1)), "label": 1}
    kind = draw(st.sampled_from(["text", "utf8", "not_object", "nan", "id", "features", "label", "lone"]))
    if kind == "text":
        return b"#" + draw(st.text(max_size=20).map(lambda text: text.replace("\n", " "))).encode()
    if kind == "utf8":
        return b"\xff" + draw(st.binary(max_size=10)).replace(b"\n", b"")
    if kind == "not_object":
        return _dumps(draw(JSON_VALUES.filter(lambda value: not isinstance(value, dict))), draw)
    if kind == "nan":
        non_finite = draw(NON_FINITE)
        return json.dumps({**good, "features": [non_finite] * count}).encode()  # NaN/Infinity literals
    if kind == "id":
        bad_id = st.sampled_from(["", "x" * 129]) | TEXT_WITH_LONE_SURROGATE
        bad_id |= JSON_VALUES.filter(lambda value: not isinstance(value, str))
        return _dumps({**good, "id": draw(bad_id)}, draw)
    if kind == "features":
        return _dumps({**good, "features": draw(bad_feature_vectors(count))}, draw)
    if kind == "label":
        unlabelled = json.dumps({"id": good["id"], "features": good["features"]})
        return (unlabelled[:-1] + ', "label": ' + draw(BAD_LABEL_TEXTS) + "}").encode()
    extra = draw(TEXT_WITH_LONE_SURROGATE)  # in a key or value the row rules drop
    return _dumps({**good, **draw(st.sampled_from([{"note": extra}, {extra: 0}]))}, draw)


@st.composite
def raw_object(
    draw: st.DrawFn, count: int, *, require_label: bool = False
) -> tuple[bytes, list[tuple[int, dict[str, Any] | None]]]:
    """(object body, [(line number, expected record or None for a rejected row)]); blank lines are not listed.

    With `require_label`, a row without a label is one of the rejected rows.
    """
    lines, rows = [], []
    for kind in draw(st.lists(st.sampled_from(["valid", "valid", "invalid", "blank"]), min_size=1, max_size=15)):
        if kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t", b"\r"])))
            continue
        if kind == "valid":
            line, parsed = draw(valid_row(count, label=True if require_label else None))
        elif require_label and draw(st.booleans()):
            line, parsed = draw(valid_row(count, label=False))[0], None
        else:
            line, parsed = draw(invalid_row(count)), None
        lines.append(line)
        rows.append((len(lines), parsed))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return bom + eol.join(lines) + draw(st.sampled_from([b"", eol])), rows
