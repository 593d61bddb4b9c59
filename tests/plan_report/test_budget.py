"""The size budget: the summary and every blocking item stay, detail goes in the documented order, and the
"N more not shown" counts add up exactly."""

import re

import pytest

from tests.plan_report.big import STATEFUL, big_plan
from tests.plan_report.plans import STACK, run, write
from tools.plan_report.analysis import analyze
from tools.plan_report.inputs import load_plan
from tools.plan_report.render import TRIM_ORDER, render

GITHUB_COMMENT_LIMIT = 65_536


@pytest.fixture
def big(tmp_path):
    document, stack = big_plan()
    plan_file = write(tmp_path, document)
    write(tmp_path / "synth" / STACK, stack, "cdk.tf.json")
    return plan_file, tmp_path / "synth"


def report(capsys, tmp_path, big, *args):
    plan_file, synth = big
    full = tmp_path / "full.md"
    result = run(capsys, plan_file, "--synth", synth, "--full", full, *args)
    return result, full.read_text()


def footer(markdown: str) -> dict[str, int]:
    """The footer's "Not shown" counts by category."""
    match = re.search(r"Not shown: (.*)\._\n$", markdown)
    if not match:
        return {}
    nouns = {noun: category for category, noun in TRIM_ORDER.items()}
    counts = {}
    for item in match.group(1).split(", "):
        number, noun = item.split(" ", 1)
        counts[nouns[noun]] = int(number)
    return counts


def notes(markdown: str, noun: str) -> int:
    return sum(int(n) for n in re.findall(rf"_… (\d+) more {noun} not shown", markdown))


def rows(markdown: str) -> int:
    return len(re.findall(r"^\| `[^`]+` \| [a-z(]", markdown, flags=re.MULTILINE)) - 1  # less the summary row


def head(markdown: str) -> str:
    return markdown.split("### ⚠️ Warnings")[0]


def test_the_fixture_is_over_githubs_limit_untrimmed(capsys, tmp_path, big):
    _, full = report(capsys, tmp_path, big)
    assert len(full) > GITHUB_COMMENT_LIMIT


@pytest.mark.parametrize("budget", [60_000, 30_000, 12_000])
def test_trimmed_fits_and_keeps_summary_and_every_blocking_item(capsys, tmp_path, big, budget):
    result, full = report(capsys, tmp_path, big, "--max-chars", budget)
    assert result.code == 1
    assert len(result.out) <= budget
    assert head(result.out) == head(full)  # marker, summary, result line, all blocking items: untouched
    for address in STATEFUL:
        assert f"(`{address}`): **replace (delete, then create)** of stateful" in result.out
    assert "Not shown:" not in full


@pytest.mark.parametrize("budget", [60_000, 30_000, 12_000])
def test_not_shown_counts_add_up(capsys, tmp_path, big, budget):
    result, full = report(capsys, tmp_path, big, "--max-chars", budget)
    counts = footer(result.out)
    assert counts
    removed_rows = counts.get("rows", 0) + counts.get("blocking-rows", 0)
    assert rows(full) - rows(result.out) == removed_rows == notes(result.out, "change rows")
    assert result.out.count(" · … |") + result.out.count("| … |") == counts.get("details", 0) + counts.get("noise", 0)
    removed_diffs = counts.get("domain", 0) + counts.get("blocking-domain", 0)
    assert (
        full.count("**IAM policy") - result.out.count("**IAM policy")
        == removed_diffs
        == notes(result.out, "domain diffs")
    )
    drift_row = "| deleted outside Terraform |"
    assert (
        full.count(drift_row) - result.out.count(drift_row) == counts.get("drift", 0) == notes(result.out, "drift rows")
    )
    assert (
        full.count("\n- `ml-pipeline-dev` ·") - result.out.count("\n- `ml-pipeline-dev` ·")
        == counts.get("warnings", 0)
        == notes(result.out, "warnings")
    )


def test_detail_goes_in_the_documented_order(big):
    """Each tighter budget trims a prefix of TRIM_ORDER: a category is touched only once all before it are gone."""
    plan_file, synth = big
    analysed = analyze((load_plan(plan_file, None, synth),), (), "acks.json")
    order = list(TRIM_ORDER)
    full = render(analysed)
    for budget in range(len(full) - 2_000, 5_000, -6_000):
        trimmed = render(analysed, max_chars=budget)
        last = max(order.index(c) for c in footer(trimmed))
        for category in order[:last]:
            assert category not in _remaining(full, trimmed, category), (budget, category)


def _remaining(full: str, trimmed: str, category: str) -> set[str]:
    """{category} when the trimmed report still shows some of what that category trims."""
    shown = {
        "noise": "changes: `tags.a`" in trimmed,
        "details": "changes: `environment" in trimmed,
        "domain": "**IAM policy" in trimmed,
        "drift": "deleted outside Terraform |" in trimmed,
        "rows": "| create | `" in trimmed or "| update | `" in trimmed,
        "warnings": "an alarm stops watching its metric" in trimmed,
    }
    return {category} if shown.get(category) else set()


def test_a_budget_below_the_head_keeps_the_head_and_says_so(capsys, tmp_path, big):
    result, full = report(capsys, tmp_path, big, "--max-chars", 1_000)
    assert head(result.out) == head(full)
    assert "nothing else is left to trim" in result.err
