"""The stateful policy, the acknowledgements that clear it, and the precursors of data loss."""

import json

import pytest

from tests.plan_report.plans import STACK, SYNTH, acknowledgements, change, fixture, plan, run, write

BUCKET = "aws_s3_bucket.data-lake_raw_bucket_6D9B1A2C"
TABLE = "aws_dynamodb_table.tables_model-registry_table_8CB0EC51"


def replace(address: str, path: str) -> dict:
    return change(
        address,
        ["delete", "create"],
        {path: "old", "id": "old"},
        {path: "new"},
        after_unknown={"id": True},
        replace_paths=[[path]],
        action_reason="replace_because_cannot_update",
    )


def summary_of(capsys, tmp_path, *args):
    out = tmp_path / "summary.json"
    result = run(capsys, *args, "--summary", out)
    return result, json.loads(out.read_text())


@pytest.mark.parametrize(("address", "path"), [(BUCKET, "bucket"), (TABLE, "hash_key")])
def test_replacing_a_stateful_resource_blocks(capsys, tmp_path, address, path):
    plan_file = write(tmp_path, plan(replace(address, path)))
    result, summary = summary_of(capsys, tmp_path, plan_file)
    assert result.code == 1
    assert [(b["address"], b["kind"]) for b in summary["blocking"]] == [(address, "stateful")]
    assert f"forced by `{path}`" in summary["blocking"][0]["message"]
    assert "reason `replace_because_cannot_update`" in result.out


@pytest.mark.parametrize(("address", "path"), [(BUCKET, "bucket"), (TABLE, "hash_key")])
def test_an_acknowledgement_for_that_address_clears_it(capsys, tmp_path, address, path):
    plan_file = write(tmp_path, plan(replace(address, path)))
    acks = acknowledgements(tmp_path, {"stack": STACK, "address": address, "reason": "renamed on purpose, empty"})
    result, summary = summary_of(capsys, tmp_path, plan_file, "--acknowledgements", acks)
    assert result.code == 0
    assert summary["result"] == "ok"
    assert summary["blocking"] == []
    assert [(a["address"], a["acknowledged_reason"]) for a in summary["acknowledged"]] == [
        (address, "renamed on purpose, empty")
    ]
    assert "### ✅ Acknowledged (1)" in result.out
    assert "acknowledged: _renamed on purpose, empty_" in result.out


def test_an_acknowledgement_is_for_one_stack(capsys, tmp_path):
    plan_file = write(tmp_path, plan(replace(BUCKET, "bucket")))
    acks = acknowledgements(tmp_path, {"stack": "ml-pipeline-prod", "address": BUCKET, "reason": "prod only"})
    result, summary = summary_of(capsys, tmp_path, plan_file, "--acknowledgements", acks)
    assert result.code == 1
    assert summary["acknowledgements_not_checked"] == 1
    assert summary["warnings"] == []  # not stale: its stack is not in this run


def test_pinned_actions_must_match(capsys, tmp_path):
    plan_file = write(tmp_path, plan(replace(BUCKET, "bucket")))
    acks = acknowledgements(
        tmp_path, {"stack": STACK, "address": BUCKET, "reason": "rename", "actions": ["create", "delete"]}
    )
    result, summary = summary_of(capsys, tmp_path, plan_file, "--acknowledgements", acks)
    assert result.code == 1
    (stale,) = summary["warnings"]
    assert stale["kind"] == "stale-acknowledgement"
    assert '`["create", "delete"]`, but the plan does `["delete", "create"]`' in stale["message"]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ((), "matches no planned change at this address"),
        (
            (change(BUCKET, ["update"], {"tags": {}}, {"tags": {"a": "b"}}),),
            "covers no blocking finding (this change needs no acknowledgement)",
        ),
    ],
)
def test_a_stale_acknowledgement_warns(capsys, tmp_path, changes, why):
    plan_file = write(tmp_path, plan(*changes))
    acks = acknowledgements(tmp_path, {"stack": STACK, "address": BUCKET, "reason": "old rename"})
    result, summary = summary_of(capsys, tmp_path, plan_file, "--acknowledgements", acks)
    assert result.code == 0
    (stale,) = summary["warnings"]
    assert (stale["kind"], stale["address"]) == ("stale-acknowledgement", BUCKET)
    assert why in stale["message"]
    assert str(acks) in stale["message"]


def test_deleting_a_non_stateful_resource_does_not_block(capsys, tmp_path):
    plan_file = write(tmp_path, plan(change("aws_lambda_permission.x", ["delete"], {"id": "x"}, None)))
    assert run(capsys, plan_file).code == 0


def test_data_loss_precursors(capsys, tmp_path):
    plan_file = write(tmp_path, fixture("data-loss"))
    result, summary = summary_of(capsys, tmp_path, plan_file, "--synth", SYNTH)
    assert result.code == 1
    precursors = [
        (f["construct"], f["message"].split(":")[0], f in summary["blocking"])
        for f in summary["blocking"] + summary["warnings"]
        if f["kind"] == "precursor"
    ]
    assert sorted(precursors) == sorted(
        [
            ("data-lake/processed/bucket", "`force_destroy` turned on (`false` → `true`)", True),
            ("tables/predictions/table", "`deletion_protection_enabled` turned off (`true` → `false`)", True),
            ("tables/predictions/table", "`point_in_time_recovery[0].enabled` turned off (`true` → `false`)", False),
            ("data-key", "`deletion_window_in_days` changed (`30` → `7`)", False),
            ("data-key", "`policy` changed", False),
            ("data-lake/processed/lifecycle", '`rule["expire"].expiration.days` shortened (`365` → `30`)', False),
            (
                "data-lake/processed/lifecycle",
                '`rule["expire"].noncurrent_version_expiration.noncurrent_days` shortened (`90` → `7`)',
                False,
            ),
            ("streaming/dlq/queue", "`message_retention_seconds` shortened (`1209600` → `345600`)", False),
            ("streaming/requests/stream", "`retention_period` shortened (`48` → `24`)", False),
        ]
    )


def test_log_retention_to_never_expire_is_not_shortened_and_from_it_is(capsys, tmp_path):
    group = "aws_cloudwatch_log_group.logs_1A2B3C4D"
    longer = change(group, ["update"], {"retention_in_days": 30}, {"retention_in_days": 0})
    shorter = change(group.replace("logs", "other"), ["update"], {"retention_in_days": 0}, {"retention_in_days": 30})
    plan_file = write(tmp_path, plan(longer, shorter))
    _, summary = summary_of(capsys, tmp_path, plan_file)
    assert [w["address"] for w in summary["warnings"]] == [shorter["address"]]


def test_a_lifecycle_rule_that_starts_expiring_objects_is_flagged(capsys, tmp_path):
    rule = {"id": "expire", "status": "Disabled", "expiration": [{"days": 30}]}
    lifecycle = change(
        "aws_s3_bucket_lifecycle_configuration.lc_1A2B3C4D",
        ["update"],
        {"rule": [rule]},
        {"rule": [dict(rule, status="Enabled")]},
    )
    _, summary = summary_of(capsys, tmp_path, write(tmp_path, plan(lifecycle)))
    (warning,) = summary["warnings"]
    assert warning["message"] == (
        '`rule["expire"].expiration.days` shortened (unset → `30`): objects older than the new age are deleted'
    )


def test_a_precursor_known_only_at_apply_is_not_judged(capsys, tmp_path):
    bucket = change(BUCKET, ["update"], {"force_destroy": False}, {}, after_unknown={"force_destroy": True})
    assert run(capsys, write(tmp_path, plan(bucket))).code == 0


def test_removed_alarms_and_dashboards_warn(capsys, tmp_path):
    alarm = change("aws_cloudwatch_metric_alarm.a_1A2B3C4D", ["delete"], {"alarm_name": "a"}, None)
    board = change("aws_cloudwatch_dashboard.d_1A2B3C4D", ["delete"], {"dashboard_name": "d"}, None)
    result, summary = summary_of(capsys, tmp_path, write(tmp_path, plan(alarm, board)))
    assert result.code == 0
    assert sorted(w["address"] for w in summary["warnings"]) == sorted([alarm["address"], board["address"]])


def test_a_stateful_resource_deleted_outside_terraform_warns(capsys, tmp_path):
    gone = change(TABLE, ["delete"], {"name": "t"}, None)
    _, summary = summary_of(capsys, tmp_path, write(tmp_path, plan(drift=(gone,))))
    assert [(w["kind"], w["address"]) for w in summary["warnings"]] == [("drift-deleted", TABLE)]
    assert summary["stacks"][STACK]["drift"] == 1


def test_an_errored_plan_blocks_and_cannot_be_acknowledged(capsys, tmp_path):
    _, summary = summary_of(capsys, tmp_path, write(tmp_path, plan(errored=True)))
    assert [(b["kind"], b["address"]) for b in summary["blocking"]] == [("plan-errored", "")]


def test_unrecognised_actions_block(capsys, tmp_path):
    odd = change("aws_sqs_queue.q_1A2B3C4D", ["delete", "frobnicate"], {"name": "q"}, None)
    result, summary = summary_of(capsys, tmp_path, write(tmp_path, plan(odd)))
    assert result.code == 1
    assert [b["kind"] for b in summary["blocking"]] == ["stateful", "unrecognised-action"]
