"""The product's story on the emulator, defined once: what `make demo` shows and what the emulator round asserts.

bootstrap state → `cdktf deploy` dev → upload a training set → the training workflow (our real handlers) registers a
version, a reviewer approves it → the model data and then the phase flip, each reviewed by the plan report → phase
two applied → predictions through the inference handler and through the stream → the A/B split in the predictions
table → a traffic shift → destroy.

Each step asserts what a reviewer would check by hand and returns one line saying what happened: the round
(tests/emulator/test_round.py) runs the steps as tests, between its own extra checks; the demo
(tests/emulator/demo.py) prints the lines with their timings.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulator import roundtrips, workflows
from tests.emulator.emulator import ROOT, Emulator
from tests.support.asl import APPROVED_TRAINING_RUN
from tests.support.synth import synth_context
from tests.support.terraform import terraform

STATE_BUCKET = "mlpipe-tfstate-111111111111-us-east-1"  # dev's own account and region (stacks/state.py)
STATE_KEY = "mlpipe/dev/terraform.tfstate"
BOOTSTRAP = "state-backend-111111111111-us-east-1"
DEV = "ml-pipeline-dev"
REVIEWER = "arn:aws:iam::111111111111:user/reviewer"
TRAINING_ROWS = 300
TRAINING_KEY = "incoming/training-1.jsonl"
ALERTS_QUEUE = "round-alerts"  # an SQS queue subscribed to the alerts topic: what an operator would have received
# The phase flip may change these in place (and nothing else): the functions learn the flag, the roles of the
# functions that call the endpoint gain sagemaker permissions on exactly its ARN, the dashboard gains the variants.
PHASE_TWO_IN_PLACE = {
    ("aws_lambda_function", "environment"): "ENDPOINTS_ENABLED false -> true",
    ("aws_iam_role_policy", "policy"): "InvokeEndpoint / UpdateEndpointWeightsAndCapacities on the endpoint ARN",
    ("aws_cloudwatch_dashboard", "dashboard_body"): "the serving row gains the variants' graphs",
}


def changes(plan_json: dict) -> list[tuple[str, list[str], list[str]]]:
    """(address, actions, changed attributes) for every resource the plan would touch."""
    found = []
    for change in plan_json.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before, after = change["change"].get("before") or {}, change["change"].get("after") or {}
        attributes = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        found.append((change["address"], actions, attributes))
    return found


@dataclass
class Story:
    emulator: Emulator
    workdir: Path
    context: dict[str, Any]  # the committed cdktf.json context
    say: Any = print  # where a step's report (the plan review) goes in the demo; the round keeps it quiet
    version: str = ""  # the trained, approved model version
    model_url: str = ""
    reports: dict[str, str] = field(default_factory=dict)  # plan reviews by name

    # --- plumbing ---------------------------------------------------------------------------------------------------

    @property
    def stacks(self) -> Path:
        return self.workdir / "cdktf.out" / "stacks"

    @property
    def dev(self) -> Path:
        return self.stacks / DEV

    def outputs(self) -> dict[str, Any]:
        outputs = json.loads(terraform(["output", "-json"], self.dev, self.emulator.env).stdout)
        return {name: value["value"] for name, value in outputs.items()}

    def synth_dev(self, endpoints_enabled: bool, suffix: str | None = None) -> None:
        """Synthesize dev as the reviewed cdktf.json change would: the trained model on both variants, the flag."""
        context = json.loads(json.dumps(self.context))
        dev = context["environments"]["dev"]
        if suffix:
            dev["suffix"] = suffix
        for variant in dev["sagemaker"]["variants"]:
            variant["model_data_url"] = self.model_url
        dev["endpoints_enabled"] = endpoints_enabled
        synth_context(context, self.workdir / "cdktf.out")

    def review(self, plan_file: str, acknowledgements: Path | None = None) -> tuple[int, dict, str]:
        """The PR plan report (tools/plan_report) of a saved dev plan: (exit code, summary, Markdown)."""
        review = self.workdir / "review" / Path(plan_file).stem  # one folder per reviewed plan, kept
        review.mkdir(parents=True, exist_ok=True)
        plan_json = review / f"plan-{DEV}.json"
        plan_json.write_text(terraform(["show", "-json", plan_file], self.dev, self.emulator.env).stdout)
        summary, markdown = review / "summary.json", review / "report.md"
        command = [sys.executable, "-m", "tools.plan_report", "--synth", str(self.stacks)]
        command += ["--summary", str(summary), "--markdown", str(markdown), str(plan_json)]
        if acknowledgements is not None:
            command += ["--acknowledgements", str(acknowledgements)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode in (0, 1), result.stderr
        self.reports[Path(plan_file).stem] = markdown.read_text()
        return result.returncode, json.loads(summary.read_text()), markdown.read_text()

    def replan_is_clean(self) -> None:
        replan = terraform(["plan", "-detailed-exitcode", "-input=false"], self.dev, self.emulator.env, check=False)
        assert replan.returncode == 0, replan.stdout[-4000:]

    # --- the steps, in order ----------------------------------------------------------------------------------------

    def bootstrap(self) -> str:
        env = {**self.emulator.env, "CDKTF_OUTDIR": str(self.workdir / "cdktf.out")}
        subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, check=True, timeout=300)
        stack = self.stacks / BOOTSTRAP
        terraform(["init", "-input=false"], stack, self.emulator.env)
        terraform(["apply", "-auto-approve", "-input=false"], stack, self.emulator.env)
        s3 = self.emulator.client("s3")
        encryption = s3.get_bucket_encryption(Bucket=STATE_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert s3.get_bucket_versioning(Bucket=STATE_BUCKET)["Status"] == "Enabled"
        replan = terraform(["plan", "-detailed-exitcode", "-input=false"], stack, self.emulator.env, check=False)
        assert replan.returncode == 0, replan.stdout + replan.stderr
        return f"state bucket {STATE_BUCKET} (KMS, versioned) and its key, re-plan clean"

    def deploy(self) -> str:
        npx = shutil.which("npx")
        assert npx, "npx (Node.js) is required"
        command = [npx, "cdktf", "deploy", DEV, "--auto-approve", "--output", str(self.workdir / "cdktf.out")]
        # cdktf would ask the public registry for lock-file hashes of other platforms; offline we use the mirror.
        command.append("--skip-provider-lock")
        result = subprocess.run(command, cwd=ROOT, env=self.emulator.env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        assert not (self.dev / "terraform.tfstate").exists(), "state must live in the S3 backend, not locally"
        s3 = self.emulator.client("s3")
        assert s3.head_object(Bucket=STATE_BUCKET, Key=STATE_KEY)["ServerSideEncryption"] == "aws:kms"
        state = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)["Body"].read())
        assert len(state["resources"]) > 40
        return f"`cdktf deploy {DEV}`: {len(state['resources'])} resources, state in s3://{STATE_BUCKET}/{STATE_KEY}"

    def train(self) -> str:
        """Upload a training set; the workflow validates, preprocesses, trains, evaluates, registers; approve it."""
        emulator, out = self.emulator, self.outputs()
        s3, ddb, sfn = emulator.client("s3"), emulator.client("dynamodb"), emulator.client("stepfunctions")
        alerts = workflows.subscribe_queue(emulator, out["alerts_topic_arn"], ALERTS_QUEUE)
        s3.put_object(Bucket=out["raw_bucket"], Key=TRAINING_KEY, Body=workflows.training_rows(TRAINING_ROWS))
        workflows.set_training_metrics(emulator.endpoint, {"validation:auc": 0.91})
        execution = workflows.start(
            sfn, out["training_state_machine_arn"], "train-1", workflows.object_created(out["raw_bucket"], TRAINING_KEY)
        )
        # dev runs with the approval gate on (cdktf.json): the version waits with a task token for a reviewer.
        [pending] = [v for v in wait_versions(ddb, out, 1) if v["status"]["S"] == "pending_approval"]
        version = pending["version"]["S"]
        registry_key = {"model_name": {"S": "model"}, "version": {"S": version}}
        workflows.wait_for_item(ddb, out["model_registry_table"], registry_key, has="task_token")
        decision = {"model_name": "model", "version": version, "decision": "approve", "reason": "auc 0.91"}
        with roundtrips.deployed_function(emulator, out["approval_function_name"], "approval") as fn:
            event = roundtrips.api("POST", "/approvals", body=json.dumps(decision))
            event["requestContext"]["identity"] = {"userArn": REVIEWER}
            first = roundtrips.invoke(fn, event)
            again = roundtrips.invoke(fn, event)
        assert (first["statusCode"], roundtrips.body(first)["changed"]) == (200, True)
        assert (again["statusCode"], roundtrips.body(again)["changed"]) == (200, False)  # idempotent
        done = workflows.wait_until_done(sfn, execution)
        assert done["status"] == "SUCCEEDED", done
        assert workflows.history_states(sfn, execution) == APPROVED_TRAINING_RUN
        item = ddb.get_item(TableName=out["model_registry_table"], Key=registry_key, ConsistentRead=True)["Item"]
        assert (item["status"]["S"], item["decided_by"]["S"]) == ("approved", REVIEWER)
        assert "task_token" not in item
        model_url = item["model_data_url"]["S"]
        assert model_url == (
            f"s3://{out['model_artifacts_bucket']}/models/model/{version}/mlpipe-train-dev-{version}/output/model.tar.gz"
        )
        bucket, model_key = model_url.removeprefix("s3://").split("/", 1)
        assert s3.head_object(Bucket=bucket, Key=model_key)["ContentLength"] > 0
        csv_key = TRAINING_KEY.replace(".jsonl", ".csv")
        train = s3.get_object(Bucket=out["processed_bucket"], Key=f"training/train/{csv_key}")
        validation = s3.get_object(Bucket=out["processed_bucket"], Key=f"training/validation/{csv_key}")
        lines = train["Body"].read().decode().splitlines() + validation["Body"].read().decode().splitlines()
        assert len(lines) == TRAINING_ROWS and all(len(line.split(",")) == 5 for line in lines)
        messages = workflows.drain(emulator, alerts)
        assert any(f"version {version} passed evaluation" in m for m in messages), messages
        assert any(f"version {version} is registered and approved" in m for m in messages), messages
        self.version, self.model_url = version, model_url
        return f"{TRAINING_ROWS} rows → training workflow SUCCEEDED → version {version} approved by {REVIEWER}"

    def set_model_data(self) -> str:
        """PR 1 of the runbook: both variants serve the approved version; reviewed, then applied."""
        self.synth_dev(endpoints_enabled=False)
        terraform(["plan", "-input=false", "-out=models.tfplan"], self.dev, self.emulator.env)
        # The models and the endpoint config are replaced (create before destroy), with the reason and the
        # attribute forcing it; nothing stateful goes, so the check passes.
        code, summary, report = self.review("models.tfplan")
        assert code == 0, report
        counts = summary["stacks"][DEV]["counts"]
        assert counts["replace_create_before_destroy"] == 3 and summary["blocking"] == [], counts
        assert "replace_because_cannot_update" in report
        terraform(["apply", "-input=false", "models.tfplan"], self.dev, self.emulator.env)
        self.replan_is_clean()
        return f"model data → version {self.version}: 3 replacements (create before destroy), review passed, applied"

    def review_phase_flip(self) -> str:
        """PR 2: the phase flag. The plan only adds (and updates the allowed attributes in place)."""
        self.synth_dev(endpoints_enabled=True)
        terraform(["plan", "-input=false", "-out=phase2.tfplan"], self.dev, self.emulator.env)
        shown = json.loads(terraform(["show", "-json", "phase2.tfplan"], self.dev, self.emulator.env).stdout)
        found = changes(shown)
        assert [c for c in found if "delete" in c[1]] == [], "the phase flip must destroy or replace nothing"
        for address, actions, attributes in found:
            if actions == ["update"]:
                rtype = address.split(".")[-2]
                assert all((rtype, a) in PHASE_TWO_IN_PLACE for a in attributes), (address, attributes)
        created = sorted(a.split(".")[-2] for a, actions, _ in found if actions == ["create"])
        assert created.count("aws_sagemaker_endpoint") == 1
        assert created.count("aws_appautoscaling_target") == 2
        assert created.count("aws_appautoscaling_policy") == 2
        assert created.count("aws_cloudwatch_metric_alarm") == 4
        code, summary, report = self.review("phase2.tfplan")
        assert code == 0, report
        assert summary["blocking"] == [] and summary["stacks"][DEV]["phase_flag"], summary
        before_summary = report.split("### Summary", 1)[0]  # the phase flag is said first
        assert "`endpoints_enabled` false → true" in before_summary and "Additive" in before_summary, report[:2000]
        self.say(report)
        return f"phase-flip plan: {len(created)} to add, 0 to destroy or replace; review passed"

    def apply_phase_two(self) -> str:
        terraform(["apply", "-input=false", "phase2.tfplan"], self.dev, self.emulator.env)
        self.replan_is_clean()
        endpoint = self.emulator.client("sagemaker").describe_endpoint(EndpointName="mlpipe-endpoint-dev")
        assert endpoint["EndpointStatus"] == "InService"
        weights = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
        assert weights == {"A": 80.0, "B": 20.0}
        return "phase two applied: endpoint InService, variants A 80 / B 20, re-plan clean"

    def predict(self, count: int = 30) -> str:
        """Requests through the inference handler: POST /predict (distinct request ids) and a cacheable GET."""
        out = self.outputs()
        with roundtrips.deployed_function(self.emulator, out["inference_function_name"], "inference") as fn:
            posted = [
                roundtrips.invoke(
                    fn,
                    roundtrips.api(
                        "POST",
                        "/predict",
                        body=json.dumps({"features": [i / 3, -1, 2, 0.25]}),
                        request_id=f"api-{i:03d}",
                    ),
                )
                for i in range(count)
            ]
            got = roundtrips.invoke(fn, roundtrips.api("GET", "/predict", query={"features": "1,2,3,4"}))
        for answer in (*posted, got):
            assert answer["statusCode"] == 200, answer
        first, last = roundtrips.body(posted[0]), roundtrips.body(got)
        assert {roundtrips.body(a)["variant"] for a in posted} <= {"A", "B"}
        assert 0 <= float(first["prediction"]) <= 1
        return (
            f"{count} x POST /predict (first: {float(first['prediction']):.3f} from variant {first['variant']}); "
            f"GET /predict → variant {last['variant']}"
        )

    def stream(self, count: int = 60, batch: int = 10) -> str:
        """Records on the deployed stream, consumed in Lambda-sized batches (one endpoint call per batch)."""
        out = self.outputs()
        payloads = [
            json.dumps({"request_id": f"stream-{i:03d}", "features": [i % 7, -(i % 3), i / 10, 1.0]}).encode()
            for i in range(count)
        ]
        sent = set(payloads)
        records = roundtrips.stream_records(self.emulator, out["inference_stream_name"], payloads)
        records = [r for r in records if base64.b64decode(r["kinesis"]["data"]) in sent]  # not phase one's
        assert len(records) == count
        with roundtrips.deployed_function(self.emulator, out["stream_consumer_function_name"], "stream_consumer") as fn:
            for start in range(0, count, batch):
                result = roundtrips.invoke(fn, {"Records": records[start : start + batch]})
                assert result == {"batchItemFailures": []}, result
        return f"{count} records on the stream → {count // batch} consumer batches, {count} predictions written"

    def ab_split(self) -> str:
        out = self.outputs()
        items = self.emulator.client("dynamodb").scan(TableName=out["predictions_table"])["Items"]
        variants = Counter(i["variant"]["S"] for i in items if i.get("status", {}).get("S") == "completed")
        # The endpoint splits requests 80/20 by weight (a stream batch is one request, so its records share one).
        assert set(variants) == {"A", "B"} and variants["A"] > variants["B"], variants
        return "A/B split in the predictions table: " + ", ".join(f"{v} {n}" for v, n in sorted(variants.items()))

    def shift(self) -> str:
        """Variant A's latency alarm fires: traffic_shift drains it; Terraform sees no drift."""
        alarm = {
            "source": "aws.cloudwatch",
            "alarmData": {
                "alarmName": "mlpipe-endpoint-a-latency-p99-dev",
                "state": {"value": "ALARM"},
                "configuration": {
                    "metrics": [
                        {
                            "metricStat": {
                                "metric": {"dimensions": {"EndpointName": "mlpipe-endpoint-dev", "VariantName": "A"}}
                            }
                        }
                    ]
                },
            },
        }
        with roundtrips.deployed_function(self.emulator, "mlpipe-traffic-shift-dev", "traffic_shift") as fn:
            first = roundtrips.invoke(fn, alarm)
            again = roundtrips.invoke(fn, alarm)
        assert first["action"] == "shifted"
        assert again["action"] == "noop"  # idempotent
        endpoint = self.emulator.client("sagemaker").describe_endpoint(EndpointName="mlpipe-endpoint-dev")
        weights = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
        assert weights["A"] == 0.0 and weights["B"] > 0
        self.replan_is_clean()  # weights live on the endpoint, not in the config
        out = self.outputs()
        with roundtrips.deployed_function(self.emulator, out["inference_function_name"], "inference") as fn:
            answers = [
                roundtrips.body(
                    roundtrips.invoke(
                        fn, roundtrips.api("POST", "/predict", body=json.dumps({"features": [i, 1, 2, 3]}))
                    )
                )
                for i in range(10)
            ]
        assert {a["variant"] for a in answers} == {"B"}, answers
        return "alarm on A → traffic_shift: A 0 / B 20, every new prediction answered by B, no Terraform drift"

    def destroy(self) -> str:
        outputs = self.outputs()
        terraform(["destroy", "-auto-approve", "-input=false"], self.dev, self.emulator.env)
        emulator = self.emulator
        sqs = emulator.client("sqs")
        for url in sqs.list_queues(QueueNamePrefix=ALERTS_QUEUE).get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)  # the story's own subscriber queue, not the stack's
        s3, ddb, kinesis, kms = (emulator.client(s) for s in ("s3", "dynamodb", "kinesis", "kms"))
        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert buckets == {STATE_BUCKET, "mlpipe-tfstate-logs-111111111111-us-east-1"}
        assert ddb.list_tables()["TableNames"] == []
        assert kinesis.list_streams()["StreamNames"] == []
        assert emulator.client("lambda").list_functions()["Functions"] == []
        sagemaker = emulator.client("sagemaker")
        assert sagemaker.list_endpoints()["Endpoints"] == []
        assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
        assert sagemaker.list_models()["Models"] == []
        assert emulator.client("sqs").list_queues().get("QueueUrls", []) == []
        for name in ("data_key_arn", "ops_key_arn", "ml_key_arn"):
            key = kms.describe_key(KeyId=outputs[name])["KeyMetadata"]
            assert key["KeyState"] == "PendingDeletion", name
        state = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)["Body"].read())
        assert state["resources"] == []
        return "dev destroyed: only the state buckets remain; keys pending deletion"


STEPS = (
    "bootstrap",
    "deploy",
    "train",
    "set_model_data",
    "review_phase_flip",
    "apply_phase_two",
    "predict",
    "stream",
    "ab_split",
    "shift",
    "destroy",
)


def wait_versions(ddb, out: dict[str, Any], count: int, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(found := workflows.versions(ddb, out["model_registry_table"], "model")) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the registry never held {count} version(s): {found}")
        time.sleep(0.5)
    return found
