"""Domain diffs a reviewer can read: Step Functions states, IAM statements, EventBridge schedules and patterns."""

import json
import re

from tests.plan_report.plans import change, plan, run, write
from tools.plan_report import iam, stepfunctions

BEFORE = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Next": "Train",
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fail"}],
        },
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync", "Next": "Done"},
        "Old": {"Type": "Pass", "Next": "Done"},
        "Batches": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Score",
                "States": {
                    "Score": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                        "End": True,
                    }
                },
            },
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Fail": {"Type": "Fail"},
    },
}


def test_state_machine_diff():
    after = json.loads(json.dumps(BEFORE))
    states = after["States"]
    del states["Old"]
    states["Evaluate"] = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done"}
    states["Train"]["Next"] = "Evaluate"
    states["Train"]["Parameters"] = {"secret-ish": "value"}
    states["Validate"]["Retry"][0]["MaxAttempts"] = 5
    states["Validate"]["Catch"][0]["Next"] = "Done"
    states["Batches"]["ItemProcessor"]["States"]["Score"]["Type"] = "Pass"
    lines = stepfunctions.diff_lines(BEFORE, after)
    assert lines == [
        "states added: `Evaluate` (`Task`)",
        "states removed: `Old`",
        "`Batches/Score`: Type `Task` → `Pass`",
        "`Train`: next `Done` → `Evaluate`; also changed: `Parameters`",
        "`Validate`: Retry `States.ALL: 3 attempts, 1s apart, backoff 2.0` → `States.ALL: 5 attempts, 1s apart, "
        "backoff 2.0`; Catch `States.ALL → Fail` → `States.ALL → Done`",
    ]
    assert "value" not in "".join(lines)


def report(capsys, tmp_path, *changes):
    return run(capsys, write(tmp_path, plan(*changes))).out


def test_a_definition_known_only_at_apply_says_so(capsys, tmp_path):
    machine = change(
        "aws_sfn_state_machine.sm_1A2B3C4D",
        ["update"],
        {"definition": json.dumps(BEFORE)},
        {},
        after_unknown={"definition": True},
    )
    out = report(capsys, tmp_path, machine)
    assert "- definition known only at apply (it refers to values computed then): states cannot be compared" in out


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_iam_diff_by_sid():
    before = iam.parse(
        policy(
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": "arn:aws:s3:::b/*",
            },
            {"Sid": "Gone", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:::q"},
            {
                "Sid": "Trust",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
        )
    )
    after = iam.parse(
        policy(
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
            {
                "Sid": "Trust",
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            },
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Principal": "*"},
        )
    )
    assert before is not None and after is not None
    assert iam.diff_lines(before, after) == [
        "statements without Sid (Deny) added: actions `s3:*`; resource `*` ⚠️; principals `*`",
        "`Gone` (Allow) removed: actions `sqs:SendMessage`",
        "`Read` (Allow): new actions `s3:PutObject`; removed actions `s3:ListBucket`; new resource `*` ⚠️",
        "`Trust` (Allow): new principals `Service:states.amazonaws.com`; conditions now "
        "`StringEquals aws:SourceAccount`",
    ]


def test_statements_without_sid_do_not_diff_by_order():
    one = {"Effect": "Allow", "Action": "a:B", "Resource": "r1"}
    two = {"Effect": "Allow", "Action": "c:D", "Resource": "r2"}
    assert iam.diff_lines(iam.parse(policy(one, two)), iam.parse(policy(two, one))) == []


def test_policy_domain_diffs_in_the_report(capsys, tmp_path):
    role = change(
        "aws_iam_role.r_1A2B3C4D",
        ["update"],
        {"assume_role_policy": policy({"Effect": "Allow", "Principal": {"Service": "a"}, "Action": "x"})},
        {"assume_role_policy": policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "x"})},
    )
    new = change(
        "aws_iam_policy.p_1A2B3C4D",
        ["create"],
        None,
        {"policy": policy({"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"})},
    )
    broken = change("aws_sqs_queue_policy.q_1A2B3C4D", ["update"], {"policy": "{}"}, {"policy": "not json"})
    out = report(capsys, tmp_path, role, new, broken)
    assert (
        "- `assume_role_policy` · statements without Sid (Allow): new principals `AWS:*`; removed principals "
        "`Service:a`" in out
    )
    assert "- `policy` · `All` (Allow) added: actions `*`; resource `*` ⚠️" in out
    assert "- `policy`: not a policy document, not shown" in out


def test_event_rule_schedule_and_pattern(capsys, tmp_path):
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": ["raw"]}, "object": {"key": [{"prefix": "in/"}]}}}
    changed = json.loads(json.dumps(pattern))
    changed["detail"]["object"]["key"][0]["prefix"] = "incoming/"
    rule = change(
        "aws_cloudwatch_event_rule.r_1A2B3C4D",
        ["update"],
        {"schedule_expression": "cron(0 3 ? * MON *)", "event_pattern": json.dumps(pattern)},
        {"schedule_expression": "rate(1 day)", "event_pattern": json.dumps(changed)},
    )
    out = report(capsys, tmp_path, rule)
    assert "- schedule `cron(0 3 ? * MON *)` → `rate(1 day)`" in out
    assert "- event pattern changed at `detail.object.key[0].prefix`" in out
    assert "incoming/" not in out


def test_values_render_only_with_show_values(capsys, tmp_path):
    queue = change(
        "aws_sqs_queue.q_1A2B3C4D",
        ["update"],
        {"visibility_timeout_seconds": 30, "name": "q"},
        {"visibility_timeout_seconds": 60, "name": "q"},
    )
    plan_file = write(tmp_path, plan(queue))
    assert "`visibility_timeout_seconds` |" in run(capsys, plan_file).out
    assert "`visibility_timeout_seconds`: `30` → `60` |" in run(capsys, plan_file, "--show-values").out


def test_markdown_in_values_stays_inert(capsys, tmp_path):
    queue = change("aws_sqs_queue.q_1A2B3C4D", ["update"], {"name": "a"}, {"name": "x` | <b>y</b>\n| z"})
    out = run(capsys, write(tmp_path, plan(queue)), "--show-values").out
    row = next(line for line in out.splitlines() if "aws_sqs_queue.q_1A2B3C4D" in line and line.startswith("| `"))
    assert len(re.split(r"(?<!\\)\|", row)) == 5  # three cells: address, action, details
    assert "``x` \\| <b>y</b> \\| z``" in row
