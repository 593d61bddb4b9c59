"""The five Lambda functions of the pipeline and their grants (ARCHITECTURE §5).

Each is a :class:`~constructs.lambda_function.LambdaFunction` with its own least-privilege role, log group and
dead-letter queue; the secure defaults every function gets are in ``constructs/lambda_function.py``. This module adds
each function's settings and the grants of lambda_src/README.md on exact ARNs.

The Kinesis event source mapping and the API Gateway integration are built by their own constructs. The stream
consumer's role may already send to its DLQ, so that queue can be the mapping's on-failure destination.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import Token

from constructs import Construct
from constructs.lambda_function import LambdaFunction, LambdaFunctionProps
from constructs.naming import Naming
from constructs.packaging import DEFAULT_OUT_DIR
from constructs.policy import Statement, allow


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


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and Token.is_unresolved(value)


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
