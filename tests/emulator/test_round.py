"""The emulator round (ARCHITECTURE §8.4): bootstrap state, deploy dev with `cdktf deploy` onto an S3 backend on the
emulator with locking, re-plan clean, refuse a second writer, destroy to nothing.

The steps share one deployment and run in file order; each asserts what a reviewer would check by hand.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.emulator import roundtrips, workflows
from tests.emulator.story import BOOTSTRAP, DEV, STATE_BUCKET, STATE_KEY, changes
from tests.support.terraform import terraform

pytestmark = pytest.mark.emulator

# Alarms of dev in phase one: 7 functions x 4, 3 tables x 2, 2 workflows x 3, API 3, stream 2, the stream's
# on-failure queue, the event rules' DLQ, data drift (tests/unit/test_monitoring.py counts them per stack too).
DEV_PHASE_ONE_ALARMS = 48

# Plan differences that come from the emulator, not from our code, with the reason. Each must be a (resource address,
# attribute) pair; everything else in a re-plan fails the test. Fixable ones are fixed in tests/emulator/server.py.
EMULATOR_ARTIFACTS: dict[tuple[str, str], str] = {}


def _unexplained(changes):
    return [
        (address, actions, [a for a in attributes if (address, a) not in EMULATOR_ARTIFACTS])
        for address, actions, attributes in changes
        if actions != ["update"] or any((address, a) not in EMULATOR_ARTIFACTS for a in attributes)
    ]


class TestEmulatorRound:
    def test_bootstrap_state_backend(self, story):
        story.bootstrap()
        assert (story.workdir / f"terraform.{BOOTSTRAP}.tfstate").is_file()  # local state, outside cdktf.out

    def test_deploy_dev_with_cdktf_onto_the_emulator_s3_backend(self, story):
        story.deploy()

    def test_replan_shows_no_changes_of_ours(self, emulator, workdir):
        stack = workdir / "cdktf.out" / "stacks" / DEV
        plan = terraform(
            ["plan", "-detailed-exitcode", "-input=false", "-out=replan.tfplan"], stack, emulator.env, check=False
        )
        assert plan.returncode in (0, 2), plan.stdout + plan.stderr
        shown = json.loads(terraform(["show", "-json", "replan.tfplan"], stack, emulator.env).stdout)
        assert _unexplained(changes(shown)) == []
        if plan.returncode == 2:
            assert changes(shown), "exit code 2 but no resource changes"

    def test_deployed_resources_are_encrypted(self, emulator, workdir):
        outputs = json.loads(
            terraform(["output", "-json"], workdir / "cdktf.out" / "stacks" / DEV, emulator.env).stdout
        )
        s3, ddb, kinesis = emulator.client("s3"), emulator.client("dynamodb"), emulator.client("kinesis")
        for name in ("raw_bucket", "processed_bucket", "model_artifacts_bucket", "athena_results_bucket"):
            rules = s3.get_bucket_encryption(Bucket=outputs[name]["value"])["ServerSideEncryptionConfiguration"]
            assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        table = ddb.describe_table(TableName=outputs["predictions_table"]["value"])["Table"]
        assert table["SSEDescription"]["SSEType"] == "KMS"
        ttl = ddb.describe_time_to_live(TableName=outputs["predictions_table"]["value"])["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
        stream = kinesis.describe_stream_summary(StreamName=outputs["inference_stream_name"]["value"])
        assert stream["StreamDescriptionSummary"]["EncryptionType"] == "KMS"

    def test_alarms_budget_and_dashboard_are_deployed(self, emulator, workdir):
        out = _outputs(emulator, workdir)
        cloudwatch = emulator.client("cloudwatch")
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix="mlpipe-", MaxRecords=100)["MetricAlarms"]
        assert len(alarms) == DEV_PHASE_ONE_ALARMS
        for alarm in alarms:
            assert alarm["AlarmActions"] == [out["alerts_topic_arn"]], alarm["AlarmName"]
            assert alarm["OKActions"] == [out["alerts_topic_arn"]], alarm["AlarmName"]
            assert "Check first:" in alarm["AlarmDescription"], alarm["AlarmName"]
        by_name = {a["AlarmName"]: a for a in alarms}
        anomaly = by_name["mlpipe-api-request-count-anomaly-dev"]
        assert anomaly["ThresholdMetricId"] == "band"
        assert sorted(m["Id"] for m in anomaly["Metrics"]) == ["band", "m1"]
        drift = by_name["mlpipe-data-drift-dev"]
        assert (drift["Namespace"], drift["MetricName"], drift["Threshold"]) == ("MlPipeline", "DataDrift", 3.0)
        dashboard = cloudwatch.get_dashboard(DashboardName=out["dashboard_name"])
        widgets = json.loads(dashboard["DashboardBody"])["widgets"]
        assert widgets[0]["type"] == "text" and len(widgets) > 20
        budgets = emulator.client("budgets")
        budget = budgets.describe_budget(AccountId="111111111111", BudgetName="mlpipe-monthly-dev")["Budget"]
        assert (budget["BudgetLimit"]["Unit"], budget["TimeUnit"]) == ("USD", "MONTHLY")
        assert float(budget["BudgetLimit"]["Amount"]) == 300.0
        notifications = budgets.describe_notifications_for_budget(
            AccountId="111111111111", BudgetName="mlpipe-monthly-dev"
        )["Notifications"]
        assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications) == [
            ("ACTUAL", 80.0),
            ("ACTUAL", 100.0),
            ("FORECASTED", 100.0),
        ]
        invoke_config = emulator.client("lambda").get_function_event_invoke_config(
            FunctionName=out["traffic_shift_function_name"]
        )
        assert (invoke_config["MaximumEventAgeInSeconds"], invoke_config["MaximumRetryAttempts"]) == (21_600, 2)

    def test_a_second_writer_is_refused_while_the_lock_is_held(self, emulator, workdir):
        stack = workdir / "cdktf.out" / "stacks" / DEV
        s3 = emulator.client("s3")
        holder = subprocess.Popen(  # `terraform console` holds the state lock while it waits for input
            [shutil.which("terraform"), "console"],
            cwd=stack,
            env=emulator.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for_object(s3, f"{STATE_KEY}.tflock", holder, timeout=120)
            second = terraform(["plan", "-lock-timeout=2s", "-input=false"], stack, emulator.env, check=False)
            assert second.returncode == 1, second.stdout
            assert "Error acquiring the state lock" in second.stderr
        finally:
            holder.communicate("exit\n", timeout=120)
        assert "Contents" not in s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=f"{STATE_KEY}.tflock")

    def test_handlers_run_against_the_deployed_resources(self, emulator, workdir):
        outputs = json.loads(
            terraform(["output", "-json"], workdir / "cdktf.out" / "stacks" / DEV, emulator.env).stdout
        )
        out = {name: value["value"] for name, value in outputs.items()}
        ddb, s3 = emulator.client("dynamodb"), emulator.client("s3")

        # Streaming ingestion: records on the deployed stream, one poison; phase one queues the valid ones.
        good = [{"request_id": f"stream-{i}", "features": [1.0, 2.0, 3.0, 4.0]} for i in range(2)]
        payloads = [json.dumps(good[0]).encode(), b"{not json", json.dumps(good[1]).encode()]
        records = roundtrips.stream_records(emulator, out["inference_stream_name"], payloads)
        assert len(records) == 3
        with roundtrips.deployed_function(emulator, out["stream_consumer_function_name"], "stream_consumer") as fn:
            result = roundtrips.invoke(fn, {"Records": records})
        assert result == {"batchItemFailures": [{"itemIdentifier": records[1]["kinesis"]["sequenceNumber"]}]}
        for item in good:
            stored = ddb.get_item(TableName=out["predictions_table"], Key={"request_id": {"S": item["request_id"]}})
            assert stored["Item"]["status"] == {"S": "queued"}
            assert int(stored["Item"]["expires_at"]["N"]) > 0

        # The API function: GET /models reads the deployed registry; predictions answer 503 in phase one.
        ddb.put_item(
            TableName=out["model_registry_table"],
            Item={
                "model_name": {"S": "churn"},
                "version": {"S": "7"},
                "status": {"S": "approved"},
                "registered_at": {"S": "2026-11-21T10:00:00.000Z"},
            },
        )
        with roundtrips.deployed_function(emulator, out["inference_function_name"], "inference") as fn:
            models = roundtrips.invoke(fn, roundtrips.api("GET", "/models"))
            predict = roundtrips.invoke(fn, roundtrips.api("POST", "/predict", body='{"features": [1, 2, 3, 4]}'))
        assert models["statusCode"] == 200
        assert [(m["model_name"], m["version"]) for m in roundtrips.body(models)["models"]] == [("churn", "7")]
        assert predict["statusCode"] == 503
        assert roundtrips.body(predict)["error"] == "model endpoint not enabled (phase one)"
        assert ddb.scan(TableName=out["predictions_table"])["Count"] == 2  # nothing written by the 503

        # Preprocess: an upload to the deployed raw bucket lands validated in the processed bucket.
        key = "incoming/batch-1.jsonl"
        rows = [{"id": "r1", "features": [1, 2, 3, 4]}, {"id": "r2", "features": [1, 2]}]
        s3.put_object(Bucket=out["raw_bucket"], Key=key, Body="\n".join(json.dumps(r) for r in rows).encode())
        event = {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": out["raw_bucket"]}, "object": {"key": key}},
        }
        with roundtrips.deployed_function(emulator, out["preprocess_function_name"], "preprocess") as fn:
            summary = roundtrips.invoke(fn, event)
        assert (summary["processed"], summary["rejected"]) == (1, 1)
        processed = s3.get_object(Bucket=out["processed_bucket"], Key=f"processed/{key}")["Body"].read().decode()
        assert [json.loads(line)["id"] for line in processed.splitlines()] == ["r1"]
        assert s3.head_object(Bucket=out["processed_bucket"], Key=f"processed/{key}")["ServerSideEncryption"] == (
            "aws:kms"
        )

    def test_a_training_run_waits_for_approval_and_registers_the_version(self, story):
        story.train()

    def test_a_run_below_the_threshold_registers_nothing_and_notifies(self, emulator, workdir):
        out = _outputs(emulator, workdir)
        ddb, sfn = emulator.client("dynamodb"), emulator.client("stepfunctions")
        before = workflows.versions(ddb, out["model_registry_table"], "model")
        workflows.set_training_metrics(emulator.endpoint, {"validation:auc": 0.55})
        execution = workflows.start(sfn, out["training_state_machine_arn"], "train-2", {"trigger": "schedule"})
        done = workflows.wait_until_done(sfn, execution)
        assert done["status"] == "SUCCEEDED", done
        states = workflows.history_states(sfn, execution)
        assert states[-2:] == ["MetricMeetsThreshold", "NotifyBelowThreshold"]
        assert "ValidateData" not in states  # a scheduled run retrains on the processed data as it is
        assert workflows.versions(ddb, out["model_registry_table"], "model") == before
        messages = workflows.drain(emulator, _queue_url(emulator, "round-alerts"))
        assert any("validation:auc = 0.55 misses the threshold" in m for m in messages), messages

    def test_a_bad_upload_fails_validation_without_retrying_and_notifies(self, emulator, workdir):
        out = _outputs(emulator, workdir)
        s3, sfn = emulator.client("s3"), emulator.client("stepfunctions")
        key = "incoming/too-small.jsonl"
        s3.put_object(Bucket=out["raw_bucket"], Key=key, Body=workflows.training_rows(3))
        execution = workflows.start(
            sfn, out["training_state_machine_arn"], "train-3", workflows.object_created(out["raw_bucket"], key)
        )
        done = workflows.wait_until_done(sfn, execution)
        assert done["status"] == "FAILED"
        assert workflows.history_states(sfn, execution)[-3:] == ["ValidateData", "NotifyFailure", "Failed"]
        messages = workflows.drain(emulator, _queue_url(emulator, "round-alerts"))
        assert any("DataValidationError" in m and "3 valid rows" in m for m in messages), messages

    def test_a_batch_run_maps_over_three_batches_with_the_approved_version(self, emulator, workdir):
        out = _outputs(emulator, workdir)
        s3, ddb, sfn = emulator.client("s3"), emulator.client("dynamodb"), emulator.client("stepfunctions")
        [approved] = [v for v in workflows.versions(ddb, out["model_registry_table"], "model")]
        batches = [f"batch/input/part-{i}.csv" for i in range(3)]
        for i, batch in enumerate(batches):
            s3.put_object(Bucket=out["processed_bucket"], Key=batch, Body=f"{i},1,2,3\n{i},4,5,6\n".encode())
        manifest = "batch/manifests/run-1.json"
        s3.put_object(Bucket=out["processed_bucket"], Key=manifest, Body=json.dumps({"batches": batches}).encode())
        payload = {"model_version": approved["version"]["S"], "manifest_key": manifest}
        execution = workflows.start(sfn, out["batch_state_machine_arn"], "batch-1", payload)
        done = workflows.wait_until_done(sfn, execution)
        assert done["status"] == "SUCCEEDED", done
        output = json.loads(done["output"])
        assert len(output["batches"]) == 3
        listed = s3.list_objects_v2(Bucket=out["processed_bucket"], Prefix="batch-predictions/")
        assert sorted(o["Key"].rsplit("/", 1)[-1] for o in listed["Contents"]) == [
            "part-0.csv.out",
            "part-1.csv.out",
            "part-2.csv.out",
        ]
        assert emulator.client("sagemaker").list_models(NameContains="mlpipe-batch-dev")["Models"] == []
        unknown = workflows.start(
            sfn, out["batch_state_machine_arn"], "batch-2", {"model_version": "nope", "manifest_key": manifest}
        )
        assert workflows.wait_until_done(sfn, unknown)["status"] == "FAILED"
        assert workflows.history_states(sfn, unknown)[-3:] == ["ModelNotApproved", "NotifyFailure", "Failed"]

    def test_event_rules_target_the_workflow_and_the_alerts_with_retries_and_a_dead_letter_queue(
        self, emulator, workdir
    ):
        out = _outputs(emulator, workdir)
        events = emulator.client("events")
        rules = {r["Name"]: r for r in events.list_rules(NamePrefix="mlpipe-")["Rules"]}
        upload = json.loads(rules["mlpipe-raw-object-created-dev"]["EventPattern"])
        assert upload["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
        targets = {
            name: events.list_targets_by_rule(Rule=name)["Targets"] for name in rules if name.startswith("mlpipe-")
        }
        assert [t["Arn"] for t in targets["mlpipe-raw-object-created-dev"]] == [out["training_state_machine_arn"]]
        for name, rule_targets in targets.items():
            for target in rule_targets:
                assert target["DeadLetterConfig"]["Arn"].endswith(":mlpipe-event-rules-dlq-dev"), name
                assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8, name
        emulator.client("sqs").delete_queue(QueueUrl=_queue_url(emulator, "round-alerts"))  # the test's own queue

    def test_setting_the_model_data_in_phase_one_rolls_the_models(self, story):
        story.set_model_data()

    def test_phase_two_plan_only_adds(self, story):
        story.review_phase_flip()
        plan = json.loads(terraform(["show", "-json", "phase2.tfplan"], story.dev, story.emulator.env).stdout)
        (endpoint,) = [c for c in plan["resource_changes"] if c["type"] == "aws_sagemaker_endpoint"]
        (deployment,) = endpoint["change"]["after"]["deployment_config"]
        rollback = deployment["auto_rollback_configuration"][0]["alarms"]
        assert sorted(a["alarm_name"] for a in rollback) == [
            "mlpipe-endpoint-a-5xx-dev",
            "mlpipe-endpoint-a-latency-p99-dev",
            "mlpipe-endpoint-b-5xx-dev",
            "mlpipe-endpoint-b-latency-p99-dev",
        ]

    def test_phase_two_applies_and_replans_clean(self, story):
        story.apply_phase_two()
        endpoint = story.emulator.client("sagemaker").describe_endpoint(EndpointName="mlpipe-endpoint-dev")
        # DescribeEndpoint answers the deployment configuration as LastDeploymentConfig (SageMaker API reference).
        policy = endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        assert (policy["Type"], policy["CanarySize"]) == ("CANARY", {"Type": "CAPACITY_PERCENT", "Value": 10})
        alarms = story.emulator.client("cloudwatch").describe_alarms(AlarmNamePrefix="mlpipe-", MaxRecords=100)
        assert len(alarms["MetricAlarms"]) == DEV_PHASE_ONE_ALARMS + 4

    def test_predictions_through_the_api_and_the_stream_split_between_the_variants(self, story):
        story.predict()
        story.stream()
        story.ab_split()

    def test_runtime_traffic_shift_moves_traffic_without_terraform_drift(self, story):
        story.shift()

    def test_renaming_the_stores_is_blocked_until_each_loss_is_acknowledged(self, story):
        # A suffix renames every bucket and table: the plan replaces each of them (their data would be lost).
        story.synth_dev(endpoints_enabled=True, suffix="blue")
        terraform(["plan", "-input=false", "-out=rename.tfplan"], story.dev, story.emulator.env)
        code, summary, report = story.review("rename.tfplan")
        assert code == 1, report[:3000]
        blocked = {(b["stack"], b["address"]) for b in summary["blocking"]}
        types = {address.split(".")[0] for _, address in blocked}
        assert {"aws_s3_bucket", "aws_dynamodb_table", "aws_kinesis_stream", "aws_glue_catalog_table"} <= types, types
        acknowledgements = story.workdir / "acknowledgements.json"
        acknowledgements.write_text(
            json.dumps(
                {
                    "acknowledgements": [
                        {"stack": stack_name, "address": address, "reason": "dev is rebuilt empty under a new suffix"}
                        for stack_name, address in sorted(blocked)
                    ]
                }
            )
        )
        code, summary, report = story.review("rename.tfplan", acknowledgements)
        assert code == 0, report[:3000]
        assert summary["blocking"] == [] and {(a["stack"], a["address"]) for a in summary["acknowledged"]} == blocked
        story.synth_dev(endpoints_enabled=True)  # back to the deployed config: nothing was applied

    def test_destroy_leaves_nothing(self, story):
        story.destroy()


def _outputs(emulator, workdir: Path) -> dict[str, str]:
    outputs = json.loads(terraform(["output", "-json"], workdir / "cdktf.out" / "stacks" / DEV, emulator.env).stdout)
    return {name: value["value"] for name, value in outputs.items()}


def _queue_url(emulator, name: str) -> str:
    return emulator.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def _wait_for_object(s3, key: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while "Contents" not in s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=key):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the lock object {key} never appeared")
        time.sleep(0.5)
