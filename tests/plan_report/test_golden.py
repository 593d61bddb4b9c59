"""The renderer on a small real plan: the exact Markdown (a golden file) and the exact summary.

``UPDATE_GOLDEN=1 pytest tests/plan_report/test_golden.py`` rewrites the golden file; review its diff like code.
"""

import json
import os

import pytest

from tests.plan_report.plans import FIXTURES, run

GOLDEN = FIXTURES / "small" / "report.md"


@pytest.fixture
def small(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(FIXTURES)  # relative paths: the report and the summary name the files as given
    summary = tmp_path / "summary.json"
    full = tmp_path / "full.md"
    result = run(capsys, "small/ml-pipeline-dev.json", "--synth", "synth", "--summary", summary, "--full", full)
    return result, json.loads(summary.read_text()), full.read_text()


def test_markdown_matches_the_golden_file(small):
    result, _, _ = small
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(result.out)
    assert result.out == GOLDEN.read_text()


def test_a_report_within_budget_is_the_full_report(small):
    result, _, full = small
    assert full == result.out


def test_the_marker_comes_first(small):
    result, _, _ = small
    assert result.out.startswith("<!-- ml-pipeline-plan-report -->\n")


def test_summary_is_exact(small):
    result, summary, _ = small
    assert result.code == 1
    assert summary == {
        "format": 1,
        "result": "blocking",
        "fingerprint": summary["fingerprint"],
        "stacks": {
            "ml-pipeline-dev": {
                "plan": "small/ml-pipeline-dev.json",
                "counts": {
                    "create": 0,
                    "update": 3,
                    "replace_delete_before_create": 1,
                    "replace_create_before_destroy": 0,
                    "delete": 1,
                    "import": 1,
                    "move": 1,
                    "read": 0,
                    "forget": 0,
                },
                "drift": 1,
                "phase_flag": None,
            }
        },
        "blocking": [
            {
                "stack": "ml-pipeline-dev",
                "address": "aws_s3_bucket.data-lake_processed_bucket_0F1E2D3C",
                "construct": "data-lake/processed/bucket",
                "kind": "precursor",
                "message": "`force_destroy` turned on (`false` → `true`): a later destroy deletes every object and "
                "version without asking",
            },
            {
                "stack": "ml-pipeline-dev",
                "address": "aws_s3_bucket.data-lake_raw_bucket_6D9B1A2C",
                "construct": "data-lake/raw/bucket",
                "kind": "stateful",
                "message": "**replace (delete, then create)** of stateful `aws_s3_bucket` (reason "
                "`replace_because_cannot_update`, forced by `bucket`): holds objects: a delete needs force_destroy "
                "to empty it, a replacement starts empty",
            },
        ],
        "acknowledged": [],
        "warnings": [
            {
                "stack": "ml-pipeline-dev",
                "address": "aws_cloudwatch_metric_alarm.monitoring_dlq-depth_alarm_2D2D2D2D",
                "construct": "monitoring/dlq-depth/alarm",
                "kind": "safeguard-removed",
                "message": "**delete** of `aws_cloudwatch_metric_alarm` (reason `delete_because_no_resource_config`): "
                "an alarm stops watching its metric",
            }
        ],
        "acknowledgements_not_checked": 0,
    }
    assert len(summary["fingerprint"]) == 64
