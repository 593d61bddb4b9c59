"""The five Lambda functions of the pipeline and their grants (ARCHITECTURE §5).

Each is a :class:`~constructs.lambda_function.LambdaFunction` with its own least-privilege role, log group and
dead-letter queue; the secure defaults every function gets are in ``constructs/lambda_function.py``. This module owns
the functions' knobs (:class:`FunctionsSettings`), the environment variable names the handlers read, and the grants of
lambda_src/README.md on exact ARNs.

The Kinesis event source mapping and the API Gateway integration are built by their own constructs. The stream
consumer's role may already send to its DLQ, so that queue can be the mapping's on-failure destination.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from cdktf import Token
from pydantic import Field

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings, Stage
from constructs.aws_modules import aws
from constructs.dashboard import Graph, Line
from constructs.lambda_function import METRICS_NAMESPACE, LambdaFunction, LambdaFunctionProps
from constructs.log_group import LogsSettings
from constructs.packaging import DEFAULT_OUT_DIR
from constructs.policy import Statement, allow
from constructs.refs import BucketRef, Deployment, KeyRef, StreamRef, TableRef
from constructs.settings import Settings
from constructs.tables import REGISTRY_STATUS_INDEX
from lambda_src.mlp_common import metric_names

# Environment variable names: a contract with the handlers in lambda_src/ (each is read there by this exact name).
ENV_ENDPOINTS_ENABLED = "ENDPOINTS_ENABLED"
ENV_ENDPOINT_NAME = "ENDPOINT_NAME"
ENV_PROCESSED_BUCKET = "PROCESSED_BUCKET"
ENV_MODEL_ARTIFACTS_BUCKET = "MODEL_ARTIFACTS_BUCKET"
ENV_BASELINE_KEY = "BASELINE_KEY"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
ENV_FEATURE_COUNT = "FEATURE_COUNT"
ENV_PREDICTIONS_TABLE = "PREDICTIONS_TABLE"
ENV_MODEL_REGISTRY_TABLE = "MODEL_REGISTRY_TABLE"
ENV_PREDICTIONS_TTL_DAYS = "PREDICTIONS_TTL_DAYS"
ENV_BATCH_WRITE_MAX_ATTEMPTS = "BATCH_WRITE_MAX_ATTEMPTS"
ENV_BATCH_WRITE_BASE_DELAY_MS = "BATCH_WRITE_BASE_DELAY_MS"
ENV_METRIC_NAME = "METRIC_NAME"
ENV_METRIC_THRESHOLD = "METRIC_THRESHOLD"
ENV_METRIC_GOAL = "METRIC_GOAL"
ENV_MIN_TRAINING_ROWS = "MIN_TRAINING_ROWS"
ENV_MAX_REJECTED_FRACTION = "MAX_REJECTED_FRACTION"
ENV_ENDPOINT_WAIT_SECONDS = "ENDPOINT_WAIT_SECONDS"
ENV_ENDPOINT_POLL_SECONDS = "ENDPOINT_POLL_SECONDS"

# The approval function's one statement on Resource "*" (allowed by constructs/lambda_function.py for this Sid only).
ANSWER_TASKS_SID = "AnswerWorkflowTasksNoResourceLevelPermissions"

# Fixed by the pipeline's design, not per-environment knobs (cdktf.json does not set them).
BASELINE_KEY = "baseline/feature_stats.json"  # drift baseline in the model-artifacts bucket (written by training)
MAX_OBJECT_BYTES = 50 * 1024 * 1024  # preprocess refuses larger raw objects: one object is read into memory
BATCH_WRITE_MAX_ATTEMPTS = 5  # stream_consumer BatchWriteItem attempts per chunk before the record is reported failed
BATCH_WRITE_BASE_DELAY_MS = 50  # stream_consumer backoff base (doubles per attempt), well inside the function timeout
# traffic_shift: DescribeEndpoint every 15 s while the endpoint is Updating (a scale-out takes minutes, not seconds).
ENDPOINT_POLL_SECONDS = 15
# Its timeout is the wait plus this margin, so a shift that starts at the end of the wait still completes.
TRAFFIC_SHIFT_MARGIN_SECONDS = 60
# An alarm action is invoked asynchronously, once per state change. If the endpoint stays busy past one invocation,
# Lambda retries twice (1 and 2 minutes later); the event may wait this long for a retry slot (Lambda's maximum,
# 6 h), so a throttled or busy period never drops the drain. After the last retry the event goes to the DLQ (alarmed).
TRAFFIC_SHIFT_MAX_EVENT_AGE_SECONDS = 21_600
TRAFFIC_SHIFT_RETRY_ATTEMPTS = 2

# The stage each function belongs to: its alarms' and graphs' dashboard row (constructs/dashboard.py).
FUNCTION_STAGES: dict[str, Stage] = {
    "validate": "ingest",
    "preprocess": "data",
    "evaluate": "training",
    "approval": "training",
    "traffic_shift": "serving",
    "inference": "api",
    "stream_consumer": "stream",
}


# The functions by their lambda_src/ folder (packaging.FUNCTIONS): the keys of the per-function settings.
FunctionName = Literal[
    "preprocess", "inference", "stream_consumer", "evaluate", "traffic_shift", "validate", "approval"
]
# One function's reserved concurrency. 0 would stop the function altogether (Lambda throttles every invocation), so a
# reservation is at least 1; 1000 is Lambda's default account quota, and constructs/quotas.py checks the sum.
ReservedConcurrency = Annotated[int, Field(ge=1, le=1000)]


class FunctionsSettings(Settings):
    """Settings shared by the pipeline's Lambda functions (§5)."""

    memory_mb: int = Field(512, ge=128, le=10240)  # memory (and so CPU) of every function
    timeout_seconds: int = Field(30, ge=1, le=900)  # Lambda's maximum is 15 minutes
    # Opt-in, per function: a reservation is taken out of the account's concurrency quota in the region, which must
    # keep 100 unreserved (constructs/quotas.py checks the sum over every environment in one account and region).
    # A function without an entry has no reserved_concurrent_executions and shares the unreserved pool.
    reserved_concurrency: dict[FunctionName, ReservedConcurrency] = Field(default_factory=dict)
    # The account's "Concurrent executions" quota in this environment's region (Service Quotas, AWS Lambda; the
    # default is 1,000, new accounts often start at 10 or 50). Only read by the reservation check.
    account_concurrency_limit: int = Field(1000, ge=1, le=1_000_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    feature_count: int = Field(4, ge=1, le=1000)  # numeric features the model takes (validated by the handlers)
    # training metric the evaluate function checks (SageMaker metric names: letters, digits and _ : . - /)
    metric_name: str = Field("validation:auc", pattern=r"^[A-Za-z0-9_:./-]{1,255}$")
    metric_threshold: float = Field(0.8, ge=-1e12, le=1e12)  # a model passes evaluation at or beyond this value
    metric_goal: Literal["maximize", "minimize"] = "maximize"
    # The training workflow's ValidateData step refuses an upload with fewer valid rows, or more rejected ones.
    min_training_rows: int = Field(10, ge=1, le=1_000_000_000)
    max_rejected_fraction: float = Field(0.1, ge=0, le=1)
    # traffic_shift waits this long for an Updating endpoint (autoscaling, a deployment) to be InService before it
    # gives up for this invocation (Lambda then retries); its timeout is this plus 60 s, within Lambda's 900 s.
    traffic_shift_wait_seconds: int = Field(600, ge=60, le=900 - TRAFFIC_SHIFT_MARGIN_SECONDS)


@dataclass(frozen=True)
class FunctionsProps:
    """What the five functions are wired to (names and ARNs of other constructs); their knobs are ``settings``."""

    deployment: Deployment  # naming, account and region of the functions
    source_root: Path  # lambda_src/ folder
    raw_bucket: BucketRef  # preprocess reads uploads here
    processed_bucket: BucketRef  # preprocess writes processed/ and rejected/ here
    model_artifacts_bucket: BucketRef  # preprocess reads the drift baseline here
    predictions_table: TableRef  # inference and stream_consumer write predictions
    model_registry_table: TableRef  # inference lists approved models (GSI REGISTRY_STATUS_INDEX); approval decides
    stream: StreamRef  # Kinesis stream read by stream_consumer's event source mapping
    data_key: KeyRef  # encrypts buckets raw/processed, the tables and the stream
    ml_key: KeyRef  # encrypts the model-artifacts bucket (the baseline)
    ops_key: KeyRef  # encrypts log groups, DLQs and environment variables
    endpoint_name: str  # SageMaker endpoint (ENDPOINT_NAME is set in phase one too)
    endpoint_arn: str  # granted only when endpoints_enabled
    endpoints_enabled: bool  # the phase flag: phase one grants nothing on the endpoint
    predictions_ttl_days: int  # the predictions table's TTL setting: handlers stamp expires_at with it
    settings: FunctionsSettings  # memory, timeout, concurrency, log level, features, evaluation metric
    logs: LogsSettings  # retention of the functions' log groups
    build_dir: Path = DEFAULT_OUT_DIR  # cache folder of the built zips


def _validate_functions(props: FunctionsProps) -> None:
    """Every ARN a grant names must be exact (the settings model has checked the knobs)."""
    p = props
    arns = {
        "raw_bucket.arn": p.raw_bucket.arn,
        "processed_bucket.arn": p.processed_bucket.arn,
        "model_artifacts_bucket.arn": p.model_artifacts_bucket.arn,
        "predictions_table.arn": p.predictions_table.arn,
        "model_registry_table.arn": p.model_registry_table.arn,
        "stream.arn": p.stream.arn,
        "data_key.arn": p.data_key.arn,
        "ml_key.arn": p.ml_key.arn,
        "ops_key.arn": p.ops_key.arn,
        "endpoint_arn": p.endpoint_arn,
    }
    problems = [
        f"{name} must be an exact ARN (got {value!r})"
        for name, value in arns.items()
        if not Token.is_unresolved(value) and (not value.startswith("arn:") or "*" in value)
    ]
    if problems:
        raise ValueError("functions: " + "; ".join(problems))


def _flag(value: bool) -> str:
    return "true" if value else "false"


class Functions(Construct):
    """Exposes ``preprocess``, ``inference``, ``stream_consumer``, ``evaluate``, ``traffic_shift``, ``validate``,
    ``approval`` (each with its ``ref``) and ``all``."""

    def __init__(self, scope: Construct, id: str, props: FunctionsProps) -> None:
        super().__init__(scope, id)
        _validate_functions(props)
        self._props = props
        p, s = props, props.settings
        endpoint = {ENV_ENDPOINTS_ENABLED: _flag(p.endpoints_enabled), ENV_ENDPOINT_NAME: p.endpoint_name}
        features = {ENV_FEATURE_COUNT: str(s.feature_count)}
        predictions = {
            ENV_PREDICTIONS_TABLE: p.predictions_table.name,
            ENV_PREDICTIONS_TTL_DAYS: str(p.predictions_ttl_days),
        }
        use_data_key = allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], [p.data_key.arn])
        invoke_endpoint = (
            [allow("InvokeEndpoint", ["sagemaker:InvokeEndpoint"], [p.endpoint_arn])] if p.endpoints_enabled else []
        )
        artifacts_arn = p.model_artifacts_bucket.arn

        self.preprocess = self._function(
            "preprocess",
            "Validates and normalizes raw objects into the processed bucket; emits the data-drift metric",
            {
                ENV_PROCESSED_BUCKET: p.processed_bucket.name,
                ENV_MODEL_ARTIFACTS_BUCKET: p.model_artifacts_bucket.name,
                ENV_BASELINE_KEY: BASELINE_KEY,
                ENV_MAX_OBJECT_BYTES: str(MAX_OBJECT_BYTES),
                **features,
            },
            (
                allow("ReadRawObjects", ["s3:GetObject"], [f"{p.raw_bucket.arn}/*"]),
                allow(
                    "WriteProcessedRejectedAndTraining",
                    ["s3:PutObject"],
                    [
                        f"{p.processed_bucket.arn}/processed/*",
                        f"{p.processed_bucket.arn}/rejected/*",
                        f"{p.processed_bucket.arn}/training/*",
                    ],
                ),
                allow("ReadBaseline", ["s3:GetObject"], [f"{artifacts_arn}/{BASELINE_KEY}"]),
                # S3 answers a GetObject of a missing key with 404 NoSuchKey only if the caller also has s3:ListBucket
                # on the bucket, otherwise with 403 AccessDenied (GetObject API reference, "Permissions"). S3 checks
                # that ListBucket in the GetObject request's context, which has no s3:prefix key, so a grant
                # conditioned on s3:prefix never matches there: the missing baseline (expected before the first
                # training) would be an AccessDenied logged as an error on every object. Hence ListBucket on the
                # bucket ARN without a condition; it shows key names of the model-artifacts bucket, never contents.
                allow("ListModelArtifactsForNoSuchKey", ["s3:ListBucket"], [artifacts_arn]),
                use_data_key,
                # The model-artifacts bucket (and so the baseline) is encrypted with the ML key: read only.
                allow("DecryptBaselineWithMlKey", ["kms:Decrypt"], [p.ml_key.arn]),
            ),
        )
        self.inference = self._function(
            "inference",
            "Answers the prediction API from the SageMaker endpoint and records each prediction",
            {**endpoint, **predictions, ENV_MODEL_REGISTRY_TABLE: p.model_registry_table.name, **features},
            (
                *invoke_endpoint,
                allow("PutPrediction", ["dynamodb:PutItem"], [p.predictions_table.arn]),
                allow(
                    "QueryApprovedModels",
                    ["dynamodb:Query"],
                    [f"{p.model_registry_table.arn}/index/{REGISTRY_STATUS_INDEX}"],
                ),
                use_data_key,
            ),
        )
        self.stream_consumer = self._function(
            "stream_consumer",
            "Validates Kinesis inference requests, predicts (phase two) and stores them in batches",
            {
                **endpoint,
                **predictions,
                **features,
                ENV_BATCH_WRITE_MAX_ATTEMPTS: str(BATCH_WRITE_MAX_ATTEMPTS),
                ENV_BATCH_WRITE_BASE_DELAY_MS: str(BATCH_WRITE_BASE_DELAY_MS),
            },
            (
                *invoke_endpoint,
                allow("BatchWritePredictions", ["dynamodb:BatchWriteItem"], [p.predictions_table.arn]),
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
                    [p.stream.arn],
                ),
                use_data_key,
            ),
        )
        self.evaluate = self._function(
            "evaluate",
            "Compares a training job's metric with the threshold",
            {
                ENV_METRIC_NAME: s.metric_name,
                ENV_METRIC_THRESHOLD: repr(float(s.metric_threshold)),
                ENV_METRIC_GOAL: s.metric_goal,
            },
            (),
        )
        self.traffic_shift = self._function(
            "traffic_shift",
            "Drains an alarmed endpoint variant by setting its weight to 0",
            {
                **endpoint,
                ENV_ENDPOINT_WAIT_SECONDS: str(s.traffic_shift_wait_seconds),
                ENV_ENDPOINT_POLL_SECONDS: str(ENDPOINT_POLL_SECONDS),
            },
            (
                allow(
                    "ShiftEndpointTraffic",
                    ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                    [p.endpoint_arn],
                ),
            )
            if p.endpoints_enabled
            else (),
            timeout_seconds=s.traffic_shift_wait_seconds + TRAFFIC_SHIFT_MARGIN_SECONDS,
        )
        self.traffic_shift_invoke_config = aws.lambda_function_event_invoke_config.LambdaFunctionEventInvokeConfig(
            self,
            "traffic-shift-async",
            function_name=self.traffic_shift.name,
            maximum_event_age_in_seconds=TRAFFIC_SHIFT_MAX_EVENT_AGE_SECONDS,
            maximum_retry_attempts=TRAFFIC_SHIFT_RETRY_ATTEMPTS,
        )
        self.validate = self._function(
            "validate",
            "Checks a raw training upload before the training workflow preprocesses it",
            {
                **features,
                ENV_MAX_OBJECT_BYTES: str(MAX_OBJECT_BYTES),
                ENV_MIN_TRAINING_ROWS: str(s.min_training_rows),
                ENV_MAX_REJECTED_FRACTION: repr(float(s.max_rejected_fraction)),
            },
            (
                allow("ReadRawObjects", ["s3:GetObject"], [f"{p.raw_bucket.arn}/*"]),
                allow("DecryptRawObjects", ["kms:Decrypt"], [p.data_key.arn]),
            ),
        )
        self.approval = self._function(
            "approval",
            "Model approval gate: records reviewers' decisions and answers the waiting training workflow",
            {ENV_MODEL_REGISTRY_TABLE: p.model_registry_table.name},
            (
                allow("DecideModelVersions", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [p.model_registry_table.arn]),
                use_data_key,
                # SendTaskSuccess/SendTaskFailure have no resource types (Service Authorization Reference, "Actions,
                # resources, and condition keys for AWS Step Functions"): "*" is the only valid resource, and the
                # task token the registry item holds names the one waiting task.
                allow(
                    ANSWER_TASKS_SID,
                    ["states:SendTaskFailure", "states:SendTaskSuccess"],
                    ["*"],
                ),
            ),
        )
        self.all = (
            self.preprocess,
            self.inference,
            self.stream_consumer,
            self.evaluate,
            self.traffic_shift,
            self.validate,
            self.approval,
        )

    def alarm_specs(self, alarms: AlarmsSettings) -> list[AlarmSpec]:
        """Each function's alarms (in its stage), and data drift from the DataDrift metric preprocess emits."""
        specs = [spec for fn in self.all for spec in fn.alarm_specs(FUNCTION_STAGES[fn.function_key], alarms)]
        env = self._props.deployment.naming.env
        specs.append(
            AlarmSpec(
                id="data-drift",
                name="data-drift",
                description=(
                    f"A processed upload's feature means are more than {alarms.data_drift:g} baseline standard "
                    "deviations from the training baseline. Check first: the preprocess log line 'object processed' "
                    "(its drift and key), then the upload's source; retrain if the shift is real."
                ),
                stage="data",
                namespace=METRICS_NAMESPACE,
                metric_name=metric_names.DATA_DRIFT,
                dimensions={metric_names.DIMENSION: env},
                statistic="Maximum",
                threshold=alarms.data_drift,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=1,
            )
        )
        return specs

    def graphs(self, variants: list[str]) -> list[Graph]:
        """Throughput no alarm needs: records processed and rejected, stream records, prediction latency per variant."""
        dimensions = {metric_names.DIMENSION: self._props.deployment.naming.env}

        def line(metric: str, stat: str = "Sum", **extra: str) -> Line:
            return Line(METRICS_NAMESPACE, metric, {**dimensions, **extra}, stat)

        graphs = [
            Graph(
                "data",
                "records processed and rejected",
                (
                    line(metric_names.RECORDS_PROCESSED),
                    line(metric_names.RECORDS_REJECTED),
                    line(metric_names.OBJECTS_REFUSED),
                ),
            ),
            Graph(
                "stream",
                "stream records processed and failed",
                (line(metric_names.STREAM_RECORDS_PROCESSED), line(metric_names.STREAM_RECORDS_FAILED)),
            ),
        ]
        if variants:  # phase two: the endpoint answers, so latency per variant exists
            per_variant = tuple(
                line(metric_names.PREDICTION_LATENCY, "p99", **{metric_names.VARIANT_DIMENSION: v}) for v in variants
            )
            graphs.append(Graph("serving", "prediction latency p99 per variant (ms)", per_variant))
        return graphs

    def _function(
        self,
        function: str,
        description: str,
        environment: dict[str, str],
        statements: tuple[Statement, ...],
        timeout_seconds: int | None = None,
    ) -> LambdaFunction:
        p = self._props
        return LambdaFunction(
            self,
            function.replace("_", "-"),
            LambdaFunctionProps(
                deployment=p.deployment,
                function=function,
                description=description,
                ops_key=p.ops_key,
                source_root=p.source_root,
                settings=p.settings,
                logs=p.logs,
                environment=environment,
                statements=statements,
                build_dir=p.build_dir,
                timeout_seconds=timeout_seconds,
            ),
        )
