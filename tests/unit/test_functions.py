"""Lambda packaging and the five functions (ARCHITECTURE §5), synthesized in a test-local stack with fake ARNs."""

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from cdktf import App, LocalBackend, TerraformStack
from pydantic import ValidationError

from constructs.aws_modules import aws
from constructs.functions import ANSWER_TASKS_SID, FunctionName, Functions, FunctionsProps, FunctionsSettings
from constructs.lambda_function import XRAY_SID, LambdaFunction, LambdaFunctionProps
from constructs.log_group import LogsSettings
from constructs.naming import Naming
from constructs.packaging import FUNCTIONS, build_zip, source_hash, zip_entries
from constructs.refs import BucketRef, Deployment, FunctionRef, KeyRef, StreamRef, TableRef
from constructs.tables import REGISTRY_STATUS_INDEX
from tests.conftest import ROOT
from tests.support.synth import by_path, of_type, policy_of, ref_id, resources

LAMBDA_SRC = ROOT / "lambda_src"
ACCOUNT = "123456789012"
REGION = "us-east-1"
OPS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-ops"
DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/22222222-data"
ML_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/33333333-ml"
RAW = "arn:aws:s3:::mlpipe-raw-dev"
PROCESSED = "arn:aws:s3:::mlpipe-processed-dev"
ARTIFACTS = "arn:aws:s3:::mlpipe-model-artifacts-dev"
PREDICTIONS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mlpipe-predictions-dev"
REGISTRY = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mlpipe-model-registry-dev"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/mlpipe-inference-requests-dev"
ENDPOINT = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/mlpipe-endpoint-dev"
SHARED_MODULES = sorted(f"mlp_common/{p.name}" for p in (LAMBDA_SRC / "mlp_common").glob("*.py"))


DEPLOYMENT = Deployment(Naming("mlpipe", "dev"), ACCOUNT, REGION)


def _props(build_dir: Path, **overrides: Any) -> FunctionsProps:
    wiring: dict[str, Any] = {
        "deployment": DEPLOYMENT,
        "source_root": LAMBDA_SRC,
        "raw_bucket": BucketRef("mlpipe-raw-dev", RAW),
        "processed_bucket": BucketRef("mlpipe-processed-dev", PROCESSED),
        "model_artifacts_bucket": BucketRef("mlpipe-model-artifacts-dev", ARTIFACTS),
        "predictions_table": TableRef("mlpipe-predictions-dev", PREDICTIONS),
        "model_registry_table": TableRef("mlpipe-model-registry-dev", REGISTRY),
        "stream": StreamRef("mlpipe-inference-requests-dev", STREAM),
        "data_key": KeyRef(DATA_KEY),
        "ml_key": KeyRef(ML_KEY),
        "ops_key": KeyRef(OPS_KEY),
        "endpoint_name": "mlpipe-endpoint-dev",
        "endpoint_arn": ENDPOINT,
        "endpoints_enabled": False,
        "predictions_ttl_days": 7,
        "settings": FunctionsSettings(),
        "logs": LogsSettings(),
        "build_dir": build_dir,
        **overrides,
    }
    return FunctionsProps(**wiring)


@dataclass(frozen=True)
class Synthesized:
    stack: dict[str, Any]
    stack_dir: Path
    construct: Functions

    def function(self, name: str) -> dict[str, Any]:
        return by_path(self.stack, "aws_lambda_function", f"/{name.replace('_', '-')}/function")

    def child(self, rtype: str, name: str, child: str) -> dict[str, Any]:
        return by_path(self.stack, rtype, f"/{name.replace('_', '-')}/{child}")

    def statements(self, name: str) -> list[dict[str, Any]]:
        return policy_of(self.child("aws_iam_role_policy", name, "policy"))["Statement"]


def synth(outdir: Path, **overrides: Any) -> Synthesized:
    app = App(outdir=str(outdir / "out"))
    stack = TerraformStack(app, "functions-test")
    LocalBackend(stack, path=str(outdir / "terraform.tfstate"))
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    construct = Functions(stack, "functions", _props(outdir / "build", **overrides))
    app.synth()
    stack_dir = outdir / "out" / "stacks" / "functions-test"
    return Synthesized(json.loads((stack_dir / "cdk.tf.json").read_text()), stack_dir, construct)


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synth(tmp_path_factory.mktemp("phase-one"))


@pytest.fixture(scope="module")
def phase_two(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synth(tmp_path_factory.mktemp("phase-two"), endpoints_enabled=True)


def _all_statements(stack: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, statement)
        for _, logical_id, body in resources(stack, "aws_iam_role_policy")
        for statement in policy_of(body)["Statement"]
    ]


def _grants(statements: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[str]]]:
    return {s["Sid"]: (s["Action"], s["Resource"]) for s in statements}


# --- packaging ---------------------------------------------------------------------------------------------------


def _copy_source(tmp_path: Path) -> Path:
    source = tmp_path / "lambda_src"
    shutil.copytree(LAMBDA_SRC, source, ignore=shutil.ignore_patterns("__pycache__"))
    return source


def test_same_source_gives_identical_zip_bytes_and_name_in_two_builds(tmp_path):
    first = build_zip("inference", LAMBDA_SRC, tmp_path / "a")
    second = build_zip("inference", LAMBDA_SRC, tmp_path / "b")
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
    assert source_hash(first) == source_hash(second)


def test_zip_is_named_by_its_content_hash(tmp_path):
    path = build_zip("evaluate", LAMBDA_SRC, tmp_path)
    assert path.name == f"evaluate-{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}.zip"


def test_source_hash_is_base64_of_sha256_like_filebase64sha256(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"hello")
    # filebase64sha256 of "hello", as Terraform computes it.
    assert source_hash(path) == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zip_holds_exactly_the_handler_and_mlp_common(tmp_path, function):
    with zipfile.ZipFile(build_zip(function, LAMBDA_SRC, tmp_path)) as archive:
        assert archive.namelist() == sorted([f"{function}.py", *SHARED_MODULES])


def test_zip_entries_have_fixed_time_permissions_and_compression(tmp_path):
    with zipfile.ZipFile(build_zip("preprocess", LAMBDA_SRC, tmp_path)) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.external_attr >> 16 == 0o100644, info.filename
            assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename


def test_pycache_compiled_files_and_dotfiles_are_excluded(tmp_path):
    source = _copy_source(tmp_path)
    for junk in ("mlp_common/__pycache__/log.cpython-312.pyc", "mlp_common/stale.pyc", "mlp_common/.secret"):
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_bytes(b"junk")
    with zipfile.ZipFile(build_zip("inference", source, tmp_path / "out")) as archive:
        assert archive.namelist() == sorted(["inference.py", *SHARED_MODULES])


def test_a_change_in_mlp_common_changes_every_functions_hash(tmp_path):
    source = _copy_source(tmp_path)
    before = {f: source_hash(build_zip(f, source, tmp_path / "before")) for f in FUNCTIONS}
    settings = source / "mlp_common" / "settings.py"
    settings.write_text(settings.read_text() + "\n# changed\n")
    after = {f: source_hash(build_zip(f, source, tmp_path / "after")) for f in FUNCTIONS}
    assert [f for f in FUNCTIONS if before[f] == after[f]] == []


def test_a_change_in_one_handler_changes_only_its_hash(tmp_path):
    source = _copy_source(tmp_path)
    before = {f: source_hash(build_zip(f, source, tmp_path / "before")) for f in FUNCTIONS}
    handler = source / "evaluate" / "evaluate.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    after = {f: source_hash(build_zip(f, source, tmp_path / "after")) for f in FUNCTIONS}
    assert [f for f in FUNCTIONS if before[f] != after[f]] == ["evaluate"]


def test_packaging_refuses_an_unknown_function():
    with pytest.raises(ValueError, match=r"^unknown function 'train'; allowed: preprocess, inference, "):
        zip_entries("train", LAMBDA_SRC)


# --- resources and exact values ----------------------------------------------------------------------------------


def test_seven_of_each_resource(phase_one):
    counts = {
        rtype: len(of_type(phase_one.stack, rtype))
        for rtype in (
            "aws_lambda_function",
            "aws_iam_role",
            "aws_iam_role_policy",
            "aws_cloudwatch_log_group",
            "aws_sqs_queue",
        )
    }
    assert counts == dict.fromkeys(counts, 7)
    # no mapping, API or permission is built here; traffic_shift alone has an asynchronous invoke configuration
    assert set(phase_one.stack["resource"]) == {*counts, "aws_lambda_function_event_invoke_config"}


@pytest.mark.parametrize(
    ("function", "name"),
    [("inference", "mlpipe-inference-dev"), ("stream_consumer", "mlpipe-stream-consumer-dev")],
)
def test_function_exact_settings(phase_one, function, name):
    body = phase_one.function(function)
    role = phase_one.child("aws_iam_role", function, "role")
    dlq = phase_one.child("aws_sqs_queue", function, "dlq")
    assert body["function_name"] == name
    assert body["runtime"] == "python3.12"
    assert body["architectures"] == ["arm64"]
    assert body["handler"] == f"{function}.handler"
    assert body["memory_size"] == 512
    assert body["timeout"] == 30
    assert "reserved_concurrent_executions" not in body  # opt-in: the secure default reserves nothing
    assert body["kms_key_arn"] == OPS_KEY
    assert body["tracing_config"] == {"mode": "Active"}
    assert body["dead_letter_config"] == {"target_arn": f"${{aws_sqs_queue.{ref_id(dlq)}.arn}}"}
    assert body["role"] == f"${{aws_iam_role.{ref_id(role)}.arn}}"
    assert body["filename"].startswith("assets/") and body["filename"].endswith(".zip")
    assert body["source_code_hash"] == source_hash(phase_one.stack_dir / body["filename"])


@pytest.mark.parametrize(
    ("function", "variables"),
    [
        (
            "preprocess",
            {
                "PROCESSED_BUCKET": "mlpipe-processed-dev",
                "MODEL_ARTIFACTS_BUCKET": "mlpipe-model-artifacts-dev",
                "BASELINE_KEY": "baseline/feature_stats.json",
                "MAX_OBJECT_BYTES": "52428800",
                "FEATURE_COUNT": "4",
            },
        ),
        (
            "inference",
            {
                "ENDPOINTS_ENABLED": "false",
                "ENDPOINT_NAME": "mlpipe-endpoint-dev",
                "PREDICTIONS_TABLE": "mlpipe-predictions-dev",
                "MODEL_REGISTRY_TABLE": "mlpipe-model-registry-dev",
                "PREDICTIONS_TTL_DAYS": "7",
                "FEATURE_COUNT": "4",
            },
        ),
        (
            "stream_consumer",
            {
                "ENDPOINTS_ENABLED": "false",
                "ENDPOINT_NAME": "mlpipe-endpoint-dev",
                "PREDICTIONS_TABLE": "mlpipe-predictions-dev",
                "PREDICTIONS_TTL_DAYS": "7",
                "FEATURE_COUNT": "4",
                "BATCH_WRITE_MAX_ATTEMPTS": "5",
                "BATCH_WRITE_BASE_DELAY_MS": "50",
            },
        ),
        ("evaluate", {"METRIC_NAME": "validation:auc", "METRIC_THRESHOLD": "0.8", "METRIC_GOAL": "maximize"}),
        (
            "traffic_shift",
            {
                "ENDPOINTS_ENABLED": "false",
                "ENDPOINT_NAME": "mlpipe-endpoint-dev",
                "ENDPOINT_WAIT_SECONDS": "600",
                "ENDPOINT_POLL_SECONDS": "15",
            },
        ),
    ],
)
def test_environment_variables(phase_one, function, variables):
    common = {"LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "MlPipeline", "ENVIRONMENT": "dev"}
    assert phase_one.function(function)["environment"] == {"variables": {**variables, **common}}


def test_phase_two_sets_the_flag_for_every_function_that_reads_it(phase_two):
    for function in ("inference", "stream_consumer", "traffic_shift"):
        assert phase_two.function(function)["environment"]["variables"]["ENDPOINTS_ENABLED"] == "true", function


@pytest.mark.parametrize("function", ["inference", "stream_consumer"])
def test_log_group_is_encrypted_with_retention_and_created_before_the_function(phase_one, function):
    log_group = phase_one.child("aws_cloudwatch_log_group", function, "logs")
    component = function.replace("_", "-")
    assert log_group["name"] == f"/aws/lambda/mlpipe-{component}-dev"
    assert log_group["retention_in_days"] == 365
    assert log_group["kms_key_id"] == OPS_KEY
    assert f"aws_cloudwatch_log_group.{ref_id(log_group)}" in phase_one.function(function)["depends_on"]


def test_function_waits_for_its_role_policy(phase_one):
    # CreateFunction checks that the role may already send to the DLQ and write traces.
    policy = phase_one.child("aws_iam_role_policy", "inference", "policy")
    assert f"aws_iam_role_policy.{ref_id(policy)}" in phase_one.function("inference")["depends_on"]


@pytest.mark.parametrize("function", ["inference", "stream_consumer"])
def test_dead_letter_queue_is_encrypted_and_keeps_messages_14_days(phase_one, function):
    dlq = phase_one.child("aws_sqs_queue", function, "dlq")
    assert dlq["name"] == f"mlpipe-{function.replace('_', '-')}-dlq-dev"
    assert dlq["kms_master_key_id"] == OPS_KEY
    assert dlq["message_retention_seconds"] == 1_209_600


@pytest.mark.parametrize("function", ["inference", "stream_consumer"])
def test_role_is_assumable_only_by_lambda_for_this_account(phase_one, function):
    role = phase_one.child("aws_iam_role", function, "role")
    assert role["name"] == f"mlpipe-{function.replace('_', '-')}-fn-dev"
    assert policy_of(role, "assume_role_policy")["Statement"] == [
        {
            "Sid": "LambdaAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


# --- IAM: exactly the grants of lambda_src/README.md --------------------------------------------------------------


def _base(phase: Synthesized, function: str) -> dict[str, tuple[list[str], list[str]]]:
    component = function.replace("_", "-")
    dlq = phase.child("aws_sqs_queue", function, "dlq")
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/mlpipe-{component}-dev:*"
    return {
        "WriteOwnLogGroup": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_group]),
        XRAY_SID: (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
        "SendToOwnDeadLetterQueue": (["sqs:SendMessage"], [f"${{aws_sqs_queue.{ref_id(dlq)}.arn}}"]),
        "UseOpsKey": (["kms:Decrypt", "kms:GenerateDataKey"], [OPS_KEY]),
    }


DATA_KEY_GRANT = {"UseDataKey": (["kms:Decrypt", "kms:GenerateDataKey"], [DATA_KEY])}
OWN_GRANTS_PHASE_ONE: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "preprocess": {
        "ReadRawObjects": (["s3:GetObject"], [f"{RAW}/*"]),
        "WriteProcessedRejectedAndTraining": (
            ["s3:PutObject"],
            [f"{PROCESSED}/processed/*", f"{PROCESSED}/rejected/*", f"{PROCESSED}/training/*"],
        ),
        "ReadBaseline": (["s3:GetObject"], [f"{ARTIFACTS}/baseline/feature_stats.json"]),
        "ListModelArtifactsForNoSuchKey": (["s3:ListBucket"], [ARTIFACTS]),
        **DATA_KEY_GRANT,
        "DecryptBaselineWithMlKey": (["kms:Decrypt"], [ML_KEY]),
    },
    "inference": {
        "PutPrediction": (["dynamodb:PutItem"], [PREDICTIONS]),
        "QueryApprovedModels": (["dynamodb:Query"], [f"{REGISTRY}/index/{REGISTRY_STATUS_INDEX}"]),
        **DATA_KEY_GRANT,
    },
    "stream_consumer": {
        "BatchWritePredictions": (["dynamodb:BatchWriteItem"], [PREDICTIONS]),
        "ReadInferenceStream": (
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [STREAM],
        ),
        **DATA_KEY_GRANT,
    },
    "evaluate": {},
    "traffic_shift": {},
    "validate": {
        "ReadRawObjects": (["s3:GetObject"], [f"{RAW}/*"]),
        "DecryptRawObjects": (["kms:Decrypt"], [DATA_KEY]),
    },
    "approval": {
        "DecideModelVersions": (["dynamodb:GetItem", "dynamodb:UpdateItem"], [REGISTRY]),
        **DATA_KEY_GRANT,
        "AnswerWorkflowTasksNoResourceLevelPermissions": (["states:SendTaskFailure", "states:SendTaskSuccess"], ["*"]),
    },
}
ENDPOINT_GRANTS = {
    "inference": {"InvokeEndpoint": (["sagemaker:InvokeEndpoint"], [ENDPOINT])},
    "stream_consumer": {"InvokeEndpoint": (["sagemaker:InvokeEndpoint"], [ENDPOINT])},
    "traffic_shift": {
        "ShiftEndpointTraffic": (
            ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
            [ENDPOINT],
        )
    },
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_phase_one_role_policy_has_exactly_the_documented_grants(phase_one, function):
    expected = {**_base(phase_one, function), **OWN_GRANTS_PHASE_ONE[function]}
    assert _grants(phase_one.statements(function)) == expected


@pytest.mark.parametrize("function", FUNCTIONS)
def test_phase_two_adds_exactly_the_endpoint_grants(phase_two, function):
    expected = {**_base(phase_two, function), **OWN_GRANTS_PHASE_ONE[function], **ENDPOINT_GRANTS.get(function, {})}
    assert _grants(phase_two.statements(function)) == expected


def test_a_missing_baseline_is_no_such_key_because_list_bucket_has_no_prefix_condition(phase_one):
    # S3 answers GetObject of a missing key with NoSuchKey only to a caller with s3:ListBucket on the bucket; the
    # request S3 authorizes for that carries no s3:prefix, so a prefix-conditioned grant would give AccessDenied.
    statement = next(s for s in phase_one.statements("preprocess") if s["Action"] == ["s3:ListBucket"])
    assert statement == {
        "Sid": "ListModelArtifactsForNoSuchKey",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [ARTIFACTS],
    }


def test_only_preprocess_may_list_a_bucket(phase_two):
    listing = [lid for lid, s in _all_statements(phase_two.stack) if "s3:ListBucket" in s["Action"]]
    assert listing == [ref_id(phase_two.child("aws_iam_role_policy", "preprocess", "policy"))]


def test_phase_one_grants_nothing_on_sagemaker(phase_one):
    sagemaker = [(lid, s["Sid"]) for lid, s in _all_statements(phase_one.stack) if "sagemaker:" in json.dumps(s)]
    assert sagemaker == []
    assert "sagemaker:InvokeEndpoint" not in json.dumps(phase_one.stack)


def test_phase_two_grants_invoke_endpoint_on_exactly_the_endpoint(phase_two):
    invoke = [s for _, s in _all_statements(phase_two.stack) if "sagemaker:InvokeEndpoint" in s["Action"]]
    assert len(invoke) == 2  # inference and stream_consumer
    assert all(s["Action"] == ["sagemaker:InvokeEndpoint"] and s["Resource"] == [ENDPOINT] for s in invoke)


@pytest.mark.parametrize("phase", ["phase_one", "phase_two"])
def test_every_resource_is_a_specific_arn_except_the_named_wildcard_statements(request, phase):
    stack = request.getfixturevalue(phase).stack
    statements = _all_statements(stack)
    assert len(statements) > 20
    wildcards = {
        XRAY_SID: ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        ANSWER_TASKS_SID: ["states:SendTaskFailure", "states:SendTaskSuccess"],
    }
    for logical_id, statement in statements:
        assert statement["Effect"] == "Allow", logical_id
        if statement["Sid"] in wildcards:
            assert statement["Action"] == wildcards[statement["Sid"]], logical_id
            assert statement["Resource"] == ["*"], logical_id
            continue
        for resource in statement["Resource"]:
            assert resource.startswith(("arn:aws:", "${aws_")), (logical_id, statement["Sid"], resource)
            assert resource.split(":", 5)[-1] not in ("*", "/*", ""), (logical_id, statement["Sid"], resource)


def test_role_policy_names_follow_the_convention(phase_one):
    names = sorted(body["name"] for body in of_type(phase_one.stack, "aws_iam_role_policy").values())
    assert names == sorted(f"mlpipe-{f.replace('_', '-')}-fn-dev" for f in FUNCTIONS)


# --- code assets ---------------------------------------------------------------------------------------------------


def test_same_zip_hash_and_path_across_two_synths(phase_one, tmp_path):
    again = synth(tmp_path)
    for function in FUNCTIONS:
        first, second = phase_one.function(function), again.function(function)
        assert first["source_code_hash"] == second["source_code_hash"], function
        assert first["filename"] == second["filename"], function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_asset_zip_under_cdktf_out_holds_the_handler(phase_one, function):
    asset = phase_one.stack_dir / phase_one.function(function)["filename"]
    with zipfile.ZipFile(asset) as archive:
        assert f"{function}.py" in archive.namelist()
        assert "mlp_common/__init__.py" in archive.namelist()
        assert "def handler(" in archive.read(f"{function}.py").decode()


# --- overrides and validation --------------------------------------------------------------------------------------


def test_settings_override_the_secure_defaults(tmp_path):
    custom = synth(
        tmp_path,
        settings=FunctionsSettings(
            memory_mb=1024,
            timeout_seconds=60,
            reserved_concurrency={"evaluate": 3, "inference": 150},
            account_concurrency_limit=2000,
            log_level="DEBUG",
            metric_goal="minimize",
            metric_threshold=0.25,
        ),
        logs=LogsSettings(retention_days=30),
    )
    body = custom.function("evaluate")
    assert (body["memory_size"], body["timeout"], body["reserved_concurrent_executions"]) == (1024, 60, 3)
    reserved = {f: custom.function(f).get("reserved_concurrent_executions") for f in FUNCTIONS}
    assert reserved == {
        "preprocess": None,
        "inference": 150,
        "stream_consumer": None,
        "evaluate": 3,
        "traffic_shift": None,
        "validate": None,
        "approval": None,
    }
    assert body["environment"]["variables"]["LOG_LEVEL"] == "DEBUG"
    assert body["environment"]["variables"]["METRIC_GOAL"] == "minimize"
    assert body["environment"]["variables"]["METRIC_THRESHOLD"] == "0.25"
    assert custom.child("aws_cloudwatch_log_group", "evaluate", "logs")["retention_in_days"] == 30


def test_constructs_expose_their_attributes(phase_one):
    functions = phase_one.construct
    assert functions.all == (
        functions.preprocess,
        functions.inference,
        functions.stream_consumer,
        functions.evaluate,
        functions.traffic_shift,
        functions.validate,
        functions.approval,
    )
    for attribute in (
        "function",
        "name",
        "arn",
        "invoke_arn",
        "role",
        "role_arn",
        "role_name",
        "policy",
        "log_group",
        "dlq",
    ):
        assert getattr(functions.inference, attribute) is not None, attribute
    inference = functions.inference
    assert inference.ref == FunctionRef(name=inference.name, arn=inference.arn, invoke_arn=inference.invoke_arn)


def test_the_registry_index_the_role_may_query_is_the_one_the_handler_queries():
    # The handler is zipped alone and cannot import constructs/: it names the table's GSI as a literal.
    source = (LAMBDA_SRC / "inference" / "inference.py").read_text()
    assert f'"{REGISTRY_STATUS_INDEX}"' in source


def _single_function(tmp_path: Path, **overrides: Any) -> Callable[[], LambdaFunction]:
    wiring: dict[str, Any] = {
        "deployment": DEPLOYMENT,
        "function": "evaluate",
        "description": "test",
        "ops_key": KeyRef(OPS_KEY),
        "source_root": LAMBDA_SRC,
        "settings": FunctionsSettings(),
        "logs": LogsSettings(),
        "build_dir": tmp_path,
        **overrides,
    }

    def build() -> LambdaFunction:
        stack = TerraformStack(App(outdir=str(tmp_path / "out")), "validation")
        return LambdaFunction(stack, "fn", LambdaFunctionProps(**wiring))

    return build


def _errors(error: pytest.ExceptionInfo[ValidationError]) -> dict[tuple[int | str, ...], str]:
    return {e["loc"]: e["msg"] for e in error.value.errors()}


def test_invalid_function_settings_are_reported_together():
    with pytest.raises(ValidationError) as error:
        FunctionsSettings(
            memory_mb=64,
            timeout_seconds=901,
            reserved_concurrency={"inference": 0, "evaluate": 1001, "train": 5},  # type: ignore[dict-item]
            account_concurrency_limit=0,
            log_level="TRACE",  # type: ignore[arg-type]
        )
    assert _errors(error) == {
        ("memory_mb",): "Input should be greater than or equal to 128",
        ("timeout_seconds",): "Input should be less than or equal to 900",
        ("reserved_concurrency", "inference"): "Input should be greater than or equal to 1",  # 0 stops the function
        ("reserved_concurrency", "evaluate"): "Input should be less than or equal to 1000",
        ("reserved_concurrency", "train", "[key]"): (
            "Input should be 'preprocess', 'inference', 'stream_consumer', 'evaluate', 'traffic_shift', 'validate' "
            "or 'approval'"
        ),
        ("account_concurrency_limit",): "Input should be greater than or equal to 1",
        ("log_level",): "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
    }


def test_reserved_concurrency_is_opt_in_and_the_account_quota_defaults_to_lambdas_default():
    settings = FunctionsSettings()
    assert settings.reserved_concurrency == {}
    assert settings.account_concurrency_limit == 1000


def test_reserved_concurrency_keys_are_exactly_the_packaged_functions():
    assert get_args(FunctionName) == FUNCTIONS


def test_no_function_reserves_concurrency_by_default(phase_one):
    reserving = [f for f in FUNCTIONS if "reserved_concurrent_executions" in phase_one.function(f)]
    assert reserving == []


def test_a_log_retention_cloudwatch_does_not_offer_is_refused():
    with pytest.raises(ValidationError) as error:
        LogsSettings(retention_days=10)
    assert list(_errors(error)) == [("retention_days",)]
    assert "10 is not a CloudWatch Logs retention" in _errors(error)[("retention_days",)]


def test_a_wildcard_grant_is_refused(tmp_path):
    build = _single_function(
        tmp_path, statements=({"Sid": "Everything", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},)
    )
    with pytest.raises(ValueError, match=r"statement 'Everything': least privilege needs exact ARNs"):
        build()


def test_the_reserved_variables_cannot_be_overridden(tmp_path):
    build = _single_function(tmp_path, environment={"ENVIRONMENT": "prod", "AWS_REGION": "x"})
    with pytest.raises(ValueError) as error:
        build()
    assert str(error.value) == (
        "function 'evaluate': environment variable ENVIRONMENT is set by the construct; "
        "environment variable 'AWS_REGION' is not allowed (letters, digits, _; no AWS_ prefix)"
    )


def test_functions_refuse_wildcard_arns_together(tmp_path):
    with pytest.raises(ValueError) as error:
        synth(
            tmp_path,
            endpoint_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*",
            stream=StreamRef("mlpipe-inference-requests-dev", "mlpipe-inference-requests-dev"),
        )
    assert str(error.value) == (
        "functions: stream.arn must be an exact ARN (got 'mlpipe-inference-requests-dev'); "
        f"endpoint_arn must be an exact ARN (got 'arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*')"
    )


def test_functions_settings_refuse_a_bad_goal():
    with pytest.raises(ValidationError) as error:
        FunctionsSettings(metric_goal="best")  # type: ignore[arg-type]
    assert _errors(error) == {("metric_goal",): "Input should be 'maximize' or 'minimize'"}


# --- terraform ------------------------------------------------------------------------------------------------------


@pytest.mark.terraform
def test_functions_stack_validates(phase_two, tmp_path):
    from tests.support.terraform import terraform, terraform_env

    env = terraform_env(tmp_path)
    terraform(["init", "-backend=false", "-input=false"], phase_two.stack_dir, env)
    report = json.loads(terraform(["validate", "-json"], phase_two.stack_dir, env, check=False).stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=1)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=1)
