"""The plan fingerprint the deploy workflow compares: stable under reordering, different for any other plan."""

import copy
import json

from tests.plan_report.plans import SYNTH, fixture, run, write


def fingerprint(capsys, tmp_path, document) -> str:
    result = run(capsys, write(tmp_path, document), "--fingerprint")
    assert result.code == 0
    digest = result.out.strip()
    assert len(digest) == 64 and int(digest, 16) >= 0
    return digest


def test_stable_under_reordering(capsys, tmp_path):
    document = fixture("data-loss")
    reordered = copy.deepcopy(document)
    reordered["resource_changes"].reverse()
    for entry in reordered["resource_changes"]:
        entry["change"].get("replace_paths", []).reverse()
    assert fingerprint(capsys, tmp_path, document) == fingerprint(capsys, tmp_path, reordered)


def test_changes_with_an_action(capsys, tmp_path):
    document = fixture("data-loss")
    other = copy.deepcopy(document)
    bucket = next(r for r in other["resource_changes"] if r["change"]["actions"] == ["delete", "create"])
    bucket["change"]["actions"] = ["create", "delete"]
    assert fingerprint(capsys, tmp_path, document) != fingerprint(capsys, tmp_path, other)


def test_changes_with_a_replace_path(capsys, tmp_path):
    document = fixture("data-loss")
    other = copy.deepcopy(document)
    bucket = next(r for r in other["resource_changes"] if r["change"].get("replace_paths"))
    bucket["change"]["replace_paths"].append(["name"])
    assert fingerprint(capsys, tmp_path, document) != fingerprint(capsys, tmp_path, other)


def test_values_and_no_ops_do_not_count(capsys, tmp_path):
    """Only what the apply will do: values (timestamps, ARNs) and untouched resources leave it alone."""
    document = fixture("endpoint-roll")
    other = copy.deepcopy(document)
    other["timestamp"] = "2030-01-01T00:00:00Z"
    other["resource_changes"] = [r for r in other["resource_changes"] if r["change"]["actions"] != ["no-op"]]
    for entry in other["resource_changes"]:
        entry["change"]["after"] = {"anything": "else"}
    assert fingerprint(capsys, tmp_path, document) == fingerprint(capsys, tmp_path, other)


def test_a_move_counts(capsys, tmp_path):
    document = fixture("small")
    other = copy.deepcopy(document)
    moved = next(r for r in other["resource_changes"] if r.get("previous_address"))
    moved["previous_address"] = "aws_sqs_queue.somewhere_else_1A2B3C4D"
    assert fingerprint(capsys, tmp_path, document) != fingerprint(capsys, tmp_path, other)


def test_the_summary_carries_the_same_fingerprint(capsys, tmp_path):
    document = fixture("small")
    summary = tmp_path / "summary.json"
    run(capsys, write(tmp_path, document), "--synth", SYNTH, "--summary", summary)
    assert json.loads(summary.read_text())["fingerprint"] == fingerprint(capsys, tmp_path, document)


def test_the_stack_is_part_of_it(capsys, tmp_path):
    document = fixture("small")
    dev = run(capsys, write(tmp_path, document), "--fingerprint").out
    prod = run(capsys, write(tmp_path, document, "ml-pipeline-prod.json"), "--fingerprint").out
    assert dev != prod
