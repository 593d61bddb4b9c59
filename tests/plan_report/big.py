"""A plan too big for one PR comment: hundreds of rows, attribute lists, policy diffs, drift and warnings, with a
few stateful replacements that must survive any trimming."""

import json
from typing import Any

from tests.plan_report.plans import STACK, change, plan, synth

STATEFUL = [f"aws_s3_bucket.data-lake_b{i}_bucket_{i:08X}" for i in range(3)] + [
    f"aws_dynamodb_table.tables_t{i}_table_{i:08X}" for i in range(2)
]


def _policy(actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Sid": "Use", "Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::bucket/*"}],
        }
    )


def big_plan() -> tuple[dict[str, Any], dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    paths: dict[str, str] = {}

    def add(entry: dict[str, Any], path: str) -> None:
        changes.append(entry)
        paths[entry["address"]] = path

    for i in range(400):
        add(
            change(
                f"aws_cloudwatch_metric_alarm.monitoring_a{i}_alarm_{i:08X}", ["create"], None, {"alarm_name": f"a{i}"}
            ),
            f"monitoring/a{i}/alarm",
        )
    for i in range(120):
        variables = {f"SETTING_{k}": str(k) for k in range(8)}
        add(
            change(
                f"aws_lambda_function.functions_f{i}_function_{i:08X}",
                ["update"],
                {"environment": [{"variables": variables}], "memory_size": 128},
                {"environment": [{"variables": {k: v + "x" for k, v in variables.items()}}], "memory_size": 256},
            ),
            f"functions/f{i}/function",
        )
    for i in range(60):
        add(
            change(
                f"aws_sqs_queue.queues_q{i}_queue_{i:08X}",
                ["update"],
                {"tags": {"a": "1"}, "name": f"q{i}"},
                {"tags": {"a": "2"}, "name": f"q{i}"},
            ),
            f"queues/q{i}/queue",
        )
    for i in range(40):
        add(
            change(
                f"aws_iam_role_policy.functions_f{i}_policy_{i:08X}",
                ["update"],
                {"policy": _policy(["s3:GetObject"])},
                {"policy": _policy(["s3:GetObject", f"s3:PutObject{i}"])},
            ),
            f"functions/f{i}/policy",
        )
    for i in range(30):
        add(
            change(
                f"aws_cloudwatch_metric_alarm.monitoring_old{i}_alarm_{i:08X}",
                ["delete"],
                {"alarm_name": "x"},
                None,
                action_reason="delete_because_no_resource_config",
            ),
            f"monitoring/old{i}/alarm",
        )
    for address in STATEFUL:
        key = "bucket" if address.startswith("aws_s3") else "name"
        add(
            change(
                address,
                ["delete", "create"],
                {key: "old", "arn": "a"},
                {key: "new"},
                after_unknown={"arn": True},
                replace_paths=[[key]],
                action_reason="replace_because_cannot_update",
            ),
            address.split(".")[1].rsplit("_", 1)[0].replace("_", "/"),
        )
    drift = tuple(
        change(f"aws_sqs_queue.queues_gone{i}_queue_{i:08X}", ["delete"], {"name": f"g{i}"}, None) for i in range(50)
    )
    return plan(*changes, drift=drift), synth(STACK, paths)
