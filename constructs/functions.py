"""The five Lambda functions, each with its own least-privilege role, log group and dead-letter queue (ARCHITECTURE §5).

Secure defaults of every function (one place: :class:`LambdaFunctionProps` and :func:`_base_statements`):

- python3.12 on arm64, code from a deterministic zip (same source → same hash → no diff), X-Ray tracing active;
- its log group ``/aws/lambda/<name>`` is created *before* the function (otherwise Lambda creates one on the first
  invocation, without retention or KMS, and Terraform cannot manage it), with retention and the ops key;
- environment variables encrypted with the ops key; reserved concurrency caps cost and protects the tables;
- an SQS dead-letter queue (ops key, 14 days) for asynchronous invocations that fail every retry;
- a role that only ``lambda.amazonaws.com`` acting for this account can assume, with one inline policy: its own log
  group, X-Ray, its own DLQ, the ops key, and the grants of lambda_src/README.md on exact ARNs.

The Kinesis event source mapping and the API Gateway integration are built by their own constructs. The stream
consumer's role may already send to its DLQ, so that queue can be the mapping's on-failure destination.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdktf import AssetType, TerraformAsset, Token

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.packaging import DEFAULT_OUT_DIR, FUNCTIONS, build_zip, source_hash
from constructs.policy import Statement, allow, document

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
METRICS_NAMESPACE = "MlPipeline"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The only values CloudWatch Logs accepts for retentionInDays ("never expire" is deliberately not offered).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)  # fmt: skip
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to inspect and redrive a failed event
# Sid of the one statement on Resource "*": X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level
# permissions (Service Authorization Reference), so an allowlist of wildcard statements can name it.
XRAY_SID = "XRayNoResourceLevelPermissions"
# Variables every function gets; callers cannot override them.
RESERVED_VARIABLES = ("LOG_LEVEL", "METRICS_NAMESPACE", "ENVIRONMENT")
BASE_SIDS = ("WriteOwnLogGroup", XRAY_SID, "SendToOwnDeadLetterQueue", "UseOpsKey")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SID = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class LambdaFunctionProps:
    """One function of lambda_src/ and everything it owns."""

    naming: Naming  # function name {project}-{fn}-{env}, role {project}-{fn}-fn-{env}, queue {project}-{fn}-dlq-{env}
    function: str  # one of packaging.FUNCTIONS: the folder and module in lambda_src/
    description: str  # what the function does (shown in the console)
    account_id: str  # account of the function: trust-policy condition and log group ARN
    region: str  # region of the function: log group ARN
    ops_key_arn: str  # encrypts the log group, the DLQ and the environment variables
    source_root: Path  # lambda_src/ folder
    environment: Mapping[str, str] = field(default_factory=dict)  # function settings (RESERVED_VARIABLES are added)
    statements: tuple[Statement, ...] = ()  # the function's own grants: Allow statements on exact ARNs
    log_level: str = "INFO"  # LOG_LEVEL of the handlers' JSON logger
    log_retention_days: int = 365  # CloudWatch Logs retention of the function's log group
    memory_mb: int = 512  # 128-10240; CPU scales with memory
    timeout_seconds: int = 30  # 1-900
    reserved_concurrency: int = 10  # ≥ 1: caps cost and the load on downstream tables
    metrics_namespace: str = METRICS_NAMESPACE  # EMF namespace of the handlers' metrics
    partition: str = "aws"  # ARN partition (aws, aws-cn, aws-us-gov)
    build_dir: Path = DEFAULT_OUT_DIR  # cache folder of the built zips


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and Token.is_unresolved(value)


def _statement_problems(statements: tuple[Statement, ...]) -> list[str]:
    problems = []
    sids = [s.get("Sid") for s in statements]
    for statement in statements:
        sid = statement.get("Sid")
        where = f"statement {sid!r}"
        if not isinstance(sid, str) or not _SID.fullmatch(sid):
            problems.append(f"{where}: needs an alphanumeric Sid")
        if statement.get("Effect") != "Allow":
            problems.append(f"{where}: must be an Allow statement")
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        if not resources:
            problems.append(f"{where}: names no Resource")
        if "*" in resources:
            problems.append(f"{where}: least privilege needs exact ARNs, not Resource '*'")
        if sid in BASE_SIDS:
            problems.append(f"{where}: the Sid is reserved for the statements every function gets")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{where}: NotAction/NotResource grant everything else")
    duplicates = sorted({s for s in sids if isinstance(s, str) and sids.count(s) > 1})
    if duplicates:
        problems.append(f"duplicate Sids {duplicates}: IAM requires unique Sids within a policy")
    return problems


def _validate(props: LambdaFunctionProps) -> None:
    """Collect every problem, raise once."""
    problems = []
    if props.function not in FUNCTIONS:
        problems.append(f"function must be one of {', '.join(FUNCTIONS)} (got {props.function!r})")
    if not 128 <= props.memory_mb <= 10240:
        problems.append(f"memory_mb must be 128-10240 (got {props.memory_mb})")
    if not 1 <= props.timeout_seconds <= 900:
        problems.append(f"timeout_seconds must be 1-900 (got {props.timeout_seconds})")
    if props.reserved_concurrency < 1:
        problems.append(f"reserved_concurrency must be ≥ 1 (got {props.reserved_concurrency}; 0 disables the function)")
    if props.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(f"log_retention_days {props.log_retention_days} is not a CloudWatch Logs retention")
    if props.log_level not in LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)} (got {props.log_level!r})")
    for name in props.environment:
        if name in RESERVED_VARIABLES:
            problems.append(f"environment variable {name} is set by the construct")
        elif name.startswith("AWS_") or not _VARIABLE.fullmatch(name):
            problems.append(f"environment variable {name!r} is not allowed (letters, digits, _; no AWS_ prefix)")
    problems += _statement_problems(props.statements)
    if problems:
        raise ValueError(f"function '{props.function}': " + "; ".join(problems))


def _base_statements(props: LambdaFunctionProps, log_group_name: str, dlq_arn: str) -> list[Statement]:
    """What every function needs to run: write its logs and traces, dead-letter, use the ops key."""
    logs, xray, dlq, ops_key = BASE_SIDS
    log_group_arn = f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:{log_group_name}"
    return [
        allow(logs, ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
        allow(xray, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        allow(dlq, ["sqs:SendMessage"], [dlq_arn]),
        # Env var decryption, and the DLQ's SSE: a sender needs GenerateDataKey and Decrypt on the queue's key.
        allow(ops_key, ["kms:Decrypt", "kms:GenerateDataKey"], [props.ops_key_arn]),
    ]


def assume_role_policy(account_id: str) -> str:
    """Only Lambda, acting for this account, may assume the role (confused-deputy guard)."""
    return document(
        {
            "Sid": "LambdaAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


class LambdaFunction(Construct):
    """Exposes ``function``, ``name``, ``arn``, ``invoke_arn``, ``role``, ``role_arn``, ``role_name``, ``policy``
    (the inline role policy: depend on it where AWS checks the role's rights at creation, e.g. an event source
    mapping), ``log_group``, ``dlq``, ``asset``."""

    def __init__(self, scope: Construct, id: str, props: LambdaFunctionProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        n = props.naming
        component = props.function.replace("_", "-")
        name = n.name(component, Kind.LAMBDA)
        log_group_name = f"/aws/lambda/{name}"
        n.check(log_group_name, Kind.LOG_GROUP, component)

        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=props.ops_key_arn,
        )
        self.dlq = aws.sqs_queue.SqsQueue(
            self,
            "dlq",
            name=n.name(f"{component}-dlq", Kind.SQS),
            kms_master_key_id=props.ops_key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
        )
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name(f"{component}-fn", Kind.IAM_ROLE),
            description=f"Execution role of the {props.function} function",
            assume_role_policy=assume_role_policy(props.account_id),
        )
        statements = [*_base_statements(props, log_group_name, self.dlq.arn), *props.statements]
        self.policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "policy",
            name=n.name(f"{component}-fn", Kind.IAM_POLICY),
            role=self.role.id,
            policy=document(*statements),
        )

        code = build_zip(props.function, props.source_root, props.build_dir)
        self.asset = TerraformAsset(self, "code", path=str(code), type=AssetType.FILE)
        lf = aws.lambda_function
        variables = {
            **props.environment,
            "LOG_LEVEL": props.log_level,
            "METRICS_NAMESPACE": props.metrics_namespace,
            "ENVIRONMENT": n.env,
        }
        self.function = lf.LambdaFunction(
            self,
            "function",
            function_name=name,
            description=props.description,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=f"{props.function}.handler",
            filename=self.asset.path,
            source_code_hash=source_hash(code),
            memory_size=props.memory_mb,
            timeout=props.timeout_seconds,
            reserved_concurrent_executions=props.reserved_concurrency,
            kms_key_arn=props.ops_key_arn,
            environment=lf.LambdaFunctionEnvironment(variables=dict(sorted(variables.items()))),
            tracing_config=lf.LambdaFunctionTracingConfig(mode="Active"),
            dead_letter_config=lf.LambdaFunctionDeadLetterConfig(target_arn=self.dlq.arn),
            # The log group must exist first (or Lambda creates an unencrypted one); CreateFunction checks that the
            # role may already send to the DLQ and write traces, so the inline policy must be attached first too.
            depends_on=[self.log_group, self.policy],
        )
        self.name: str = self.function.function_name
        self.arn: str = self.function.arn
        self.invoke_arn: str = self.function.invoke_arn
        self.role_arn: str = self.role.arn
        self.role_name: str = self.role.name
        self.function_key: str = props.function  # e.g. "stream_consumer"


@dataclass(frozen=True)
class FunctionsProps:
    """The pipeline's five functions and the resources they are granted (plain strings: names, ARNs)."""

    naming: Naming
    account_id: str  # account of the functions
    region: str  # region of the functions
    source_root: Path  # lambda_src/ folder
    raw_bucket_name: str  # preprocess reads uploads here
    raw_bucket_arn: str
    processed_bucket_name: str  # preprocess writes processed/ and rejected/ here
    processed_bucket_arn: str
    model_artifacts_bucket_name: str  # preprocess reads the drift baseline here
    model_artifacts_bucket_arn: str
    predictions_table_name: str  # inference and stream_consumer write predictions
    predictions_table_arn: str
    model_registry_table_name: str  # inference lists approved models (GSI by-status)
    model_registry_table_arn: str
    stream_arn: str  # Kinesis stream read by stream_consumer's event source mapping
    data_key_arn: str  # encrypts buckets raw/processed, the tables and the stream
    ml_key_arn: str  # encrypts the model-artifacts bucket (the baseline)
    ops_key_arn: str  # encrypts log groups, DLQs and environment variables
    endpoint_name: str  # SageMaker endpoint (ENDPOINT_NAME is set in phase one too)
    endpoint_arn: str  # granted only when endpoints_enabled
    endpoints_enabled: bool = False  # the phase flag: phase one grants nothing on the endpoint
    predictions_ttl_days: int = 30  # predictions expire this many days after they are written
    feature_count: int = 4  # numeric features the model takes
    metric_name: str = "validation:auc"  # training metric the evaluate function checks
    metric_threshold: float = 0.8  # a model passes at or beyond this value
    metric_goal: str = "maximize"  # maximize | minimize
    memory_mb: int = 512  # every function
    timeout_seconds: int = 30  # every function
    reserved_concurrency: int = 10  # per function
    log_level: str = "INFO"
    log_retention_days: int = 365
    baseline_key: str = "baseline/feature_stats.json"  # drift baseline in the model-artifacts bucket
    max_object_bytes: int = 50 * 1024 * 1024  # preprocess refuses larger raw objects
    batch_write_max_attempts: int = 5  # stream_consumer BatchWriteItem attempts per chunk
    batch_write_base_delay_ms: int = 50  # stream_consumer backoff base
    registry_status_index: str = "by-status"  # GSI of the model registry that inference queries
    partition: str = "aws"
    build_dir: Path = DEFAULT_OUT_DIR  # cache folder of the built zips


def _validate_functions(props: FunctionsProps) -> None:
    problems = []
    if props.metric_goal not in ("maximize", "minimize"):
        problems.append(f"metric_goal must be maximize or minimize (got {props.metric_goal!r})")
    for name in ("predictions_ttl_days", "feature_count", "max_object_bytes", "batch_write_max_attempts"):
        if getattr(props, name) < 1:
            problems.append(f"{name} must be ≥ 1 (got {getattr(props, name)})")
    if props.batch_write_base_delay_ms < 0:
        problems.append(f"batch_write_base_delay_ms must be ≥ 0 (got {props.batch_write_base_delay_ms})")
    if not props.metric_name:
        problems.append("metric_name is required")
    if not props.baseline_key or props.baseline_key.startswith("/") or "*" in props.baseline_key:
        problems.append(f"baseline_key must be an object key without wildcards (got {props.baseline_key!r})")
    for name in (
        "raw_bucket_arn",
        "processed_bucket_arn",
        "model_artifacts_bucket_arn",
        "predictions_table_arn",
        "model_registry_table_arn",
        "stream_arn",
        "data_key_arn",
        "ml_key_arn",
        "ops_key_arn",
        "endpoint_arn",
    ):
        value = getattr(props, name)
        if not _is_token(value) and (not value.startswith("arn:") or "*" in value):
            problems.append(f"{name} must be an exact ARN (got {value!r})")
    if problems:
        raise ValueError("functions: " + "; ".join(problems))


def _flag(value: bool) -> str:
    return "true" if value else "false"


class Functions(Construct):
    """Exposes ``preprocess``, ``inference``, ``stream_consumer``, ``evaluate``, ``traffic_shift`` and ``all``."""

    def __init__(self, scope: Construct, id: str, props: FunctionsProps) -> None:
        super().__init__(scope, id)
        _validate_functions(props)
        self._props = props
        p = props
        endpoint = {"ENDPOINTS_ENABLED": _flag(p.endpoints_enabled), "ENDPOINT_NAME": p.endpoint_name}
        use_data_key = allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], [p.data_key_arn])
        invoke_endpoint = (
            [allow("InvokeEndpoint", ["sagemaker:InvokeEndpoint"], [p.endpoint_arn])] if p.endpoints_enabled else []
        )

        self.preprocess = self._function(
            "preprocess",
            "Validates and normalizes raw objects into the processed bucket; emits the data-drift metric",
            {
                "PROCESSED_BUCKET": p.processed_bucket_name,
                "MODEL_ARTIFACTS_BUCKET": p.model_artifacts_bucket_name,
                "BASELINE_KEY": p.baseline_key,
                "MAX_OBJECT_BYTES": str(p.max_object_bytes),
                "FEATURE_COUNT": str(p.feature_count),
            },
            (
                allow("ReadRawObjects", ["s3:GetObject"], [f"{p.raw_bucket_arn}/*"]),
                allow(
                    "WriteProcessedAndRejected",
                    ["s3:PutObject"],
                    [f"{p.processed_bucket_arn}/processed/*", f"{p.processed_bucket_arn}/rejected/*"],
                ),
                allow("ReadBaseline", ["s3:GetObject"], [f"{p.model_artifacts_bucket_arn}/{p.baseline_key}"]),
                # Lets S3 answer NoSuchKey (not AccessDenied) for a missing baseline, and lists nothing else.
                allow(
                    "ListBaselineKeyOnly",
                    ["s3:ListBucket"],
                    [p.model_artifacts_bucket_arn],
                    Condition={"StringEquals": {"s3:prefix": p.baseline_key}},
                ),
                use_data_key,
                # The model-artifacts bucket (and so the baseline) is encrypted with the ML key: read only.
                allow("DecryptBaselineWithMlKey", ["kms:Decrypt"], [p.ml_key_arn]),
            ),
        )
        self.inference = self._function(
            "inference",
            "Answers the prediction API from the SageMaker endpoint and records each prediction",
            {
                **endpoint,
                "PREDICTIONS_TABLE": p.predictions_table_name,
                "MODEL_REGISTRY_TABLE": p.model_registry_table_name,
                "PREDICTIONS_TTL_DAYS": str(p.predictions_ttl_days),
                "FEATURE_COUNT": str(p.feature_count),
            },
            (
                *invoke_endpoint,
                allow("PutPrediction", ["dynamodb:PutItem"], [p.predictions_table_arn]),
                allow(
                    "QueryApprovedModels",
                    ["dynamodb:Query"],
                    [f"{p.model_registry_table_arn}/index/{p.registry_status_index}"],
                ),
                use_data_key,
            ),
        )
        self.stream_consumer = self._function(
            "stream_consumer",
            "Validates Kinesis inference requests, predicts (phase two) and stores them in batches",
            {
                **endpoint,
                "PREDICTIONS_TABLE": p.predictions_table_name,
                "PREDICTIONS_TTL_DAYS": str(p.predictions_ttl_days),
                "FEATURE_COUNT": str(p.feature_count),
                "BATCH_WRITE_MAX_ATTEMPTS": str(p.batch_write_max_attempts),
                "BATCH_WRITE_BASE_DELAY_MS": str(p.batch_write_base_delay_ms),
            },
            (
                *invoke_endpoint,
                allow("BatchWritePredictions", ["dynamodb:BatchWriteItem"], [p.predictions_table_arn]),
                # What the event source mapping calls with this role (no SubscribeToShard: no enhanced fan-out).
                allow(
                    "ReadInferenceStream",
                    [
                        "kinesis:DescribeStream",
                        "kinesis:DescribeStreamSummary",
                        "kinesis:GetRecords",
                        "kinesis:GetShardIterator",
                        "kinesis:ListShards",
                    ],
                    [p.stream_arn],
                ),
                use_data_key,
            ),
        )
        self.evaluate = self._function(
            "evaluate",
            "Compares a training job's metric with the threshold",
            {
                "METRIC_NAME": p.metric_name,
                "METRIC_THRESHOLD": repr(float(p.metric_threshold)),
                "METRIC_GOAL": p.metric_goal,
            },
            (),
        )
        self.traffic_shift = self._function(
            "traffic_shift",
            "Drains an alarmed endpoint variant by setting its weight to 0",
            endpoint,
            (
                allow(
                    "ShiftEndpointTraffic",
                    ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                    [p.endpoint_arn],
                ),
            )
            if p.endpoints_enabled
            else (),
        )
        self.all = (self.preprocess, self.inference, self.stream_consumer, self.evaluate, self.traffic_shift)

    def _function(
        self, function: str, description: str, environment: dict[str, str], statements: tuple[Statement, ...]
    ) -> LambdaFunction:
        p = self._props
        return LambdaFunction(
            self,
            function.replace("_", "-"),
            LambdaFunctionProps(
                naming=p.naming,
                function=function,
                description=description,
                account_id=p.account_id,
                region=p.region,
                ops_key_arn=p.ops_key_arn,
                source_root=p.source_root,
                environment=environment,
                statements=statements,
                log_level=p.log_level,
                log_retention_days=p.log_retention_days,
                memory_mb=p.memory_mb,
                timeout_seconds=p.timeout_seconds,
                reserved_concurrency=p.reserved_concurrency,
                partition=p.partition,
                build_dir=p.build_dir,
            ),
        )
