"""Attribute paths and the comparisons the rules are made of."""

import pytest

from tools.plan_report.model import Redacted
from tools.plan_report.paths import changed_paths, format_path
from tools.plan_report.rules import left, lifecycle_days, shortened, turned_off, turned_on


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("production_variants", 0, "instance_type"), "production_variants[0].instance_type"),
        (("tags", "hand-edited"), "tags.hand-edited"),
        (("tags", "kubernetes.io/name"), 'tags["kubernetes.io/name"]'),
        (("environment", 0, "variables", 'a"b'), 'environment[0].variables["a\\"b"]'),
        ((), ""),
    ],
)
def test_format_path(path, text):
    assert format_path(path) == text


def test_changed_paths_marks_sensitive_and_unknown_subtrees_without_descending():
    before = {"env": [{"variables": {"A": "1", "B": "2"}}], "name": "x", "tags": None, "arn": "a"}
    after = {"env": [{"variables": {"A": "1", "B": "3"}}], "name": "y", "tags": {"k": "v"}}
    changed = changed_paths(before, after, {}, {"env": [{"variables": True}]}, {"arn": True})
    assert [(p.text, p.sensitive, p.unknown) for p in changed] == [
        ("arn", False, True),
        ("env[0].variables", True, False),
        ("name", False, False),
        ("tags.k", False, False),
    ]


def test_redacted_values_compare_but_never_show():
    assert Redacted("s3cret") == Redacted("s3cret")
    assert Redacted("s3cret") != Redacted("other")
    assert "s3cret" not in repr(Redacted("s3cret")) + str(Redacted("s3cret"))


@pytest.mark.parametrize(
    ("compare", "before", "after", "dangerous"),
    [
        (turned_on, False, True, True),
        (turned_on, None, True, True),
        (turned_on, True, True, False),
        (turned_off, True, False, True),
        (turned_off, False, False, False),
        (shortened(0), 90, 30, True),
        (shortened(0), 30, 90, False),
        (shortened(0), 0, 30, True),  # from "never expire"
        (shortened(0), 30, 0, False),
        (shortened(), None, 24, True),
        (shortened(), "x", 24, False),  # not a number: not judged
        (left("Enabled"), "Enabled", "Suspended", True),
        (left("Enabled"), "Suspended", "Enabled", False),
    ],
)
def test_comparisons(compare, before, after, dangerous):
    assert compare(before, after) is dangerous


def test_lifecycle_days_match_rules_by_id_and_ignore_disabled_ones():
    extract = lifecycle_days("expiration", "days")
    values = {
        "rule": [
            {"id": "b", "status": "Enabled", "expiration": [{"days": 30}]},
            {"id": "a", "status": "Disabled", "expiration": [{"days": 1}]},
        ]
    }
    assert extract(values) == {'rule["b"].expiration.days': 30, 'rule["a"].expiration.days': None}
