"""Kinesis inference-request stream and its consumer mapping (ARCHITECTURE §4, §5)."""

from dataclasses import dataclass, field
from typing import Any, Literal

from cdktf import TerraformResourceLifecycle
from pydantic import Field, model_validator

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings, any_in_five_minutes, queue_depth_alarm
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import allow, document
from constructs.refs import KeyRef, StreamRef
from constructs.settings import Settings


class KinesisSettings(Settings):
    """Knobs of the inference-request stream (``kinesis`` in cdktf.json)."""

    mode: Literal["ON_DEMAND", "PROVISIONED"] = "ON_DEMAND"
    shard_count: int | None = Field(None, ge=1, le=10_000)  # PROVISIONED only (account shard quotas start at 200-500)
    retention_hours: int = Field(24, ge=24, le=8760)  # Kinesis keeps records 24 hours to 365 days

    @model_validator(mode="after")
    def _shards(self) -> "KinesisSettings":
        if self.mode == "PROVISIONED" and self.shard_count is None:
            raise ValueError("mode PROVISIONED needs shard_count")
        if self.mode == "ON_DEMAND" and self.shard_count is not None:
            raise ValueError("shard_count is only allowed with mode PROVISIONED")
        return self


class StreamConsumerSettings(Settings):
    """Kinesis → stream_consumer event source mapping (``stream_consumer`` in cdktf.json; Lambda's limits)."""

    batch_size: int = Field(100, ge=1, le=10000)
    batching_window_seconds: int = Field(5, ge=0, le=300)
    max_retry_attempts: int = Field(3, ge=0, le=10000)  # then the batch goes to the on-failure queue
    max_record_age_seconds: int = Field(3600, ge=60, le=604800)
    parallelization_factor: int = Field(1, ge=1, le=10)


@dataclass(frozen=True)
class StreamingProps:
    """The inference-request stream: what it is wired to; its knobs are ``settings``."""

    naming: Naming
    data_key: KeyRef  # server-side encryption with our key
    protect: bool = False  # prevent_destroy (protect_stateful)
    settings: KinesisSettings = field(default_factory=KinesisSettings)


class Streaming(Construct):
    """Exposes ``stream`` (aws KinesisStream), ``name``, ``arn``, ``ref`` and ``alarm_specs``."""

    def __init__(self, scope: Construct, id: str, props: StreamingProps) -> None:
        super().__init__(scope, id)
        settings = props.settings
        self.stream = aws.kinesis_stream.KinesisStream(
            self,
            "stream",
            name=props.naming.name("inference-requests", Kind.KINESIS),
            stream_mode_details={"stream_mode": settings.mode},
            shard_count=settings.shard_count if settings.mode == "PROVISIONED" else None,
            retention_period=settings.retention_hours,
            encryption_type="KMS",
            kms_key_id=props.data_key.arn,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.protect else None,
        )
        self.name: str = self.stream.name
        self.arn: str = self.stream.arn
        self.ref = StreamRef(self.name, self.arn)

    def alarm_specs(self, alarms: AlarmsSettings) -> list[AlarmSpec]:
        """The consumer falling behind (iterator age) and producers refused for lack of capacity (write throttles)."""
        dimensions = {"StreamName": self.name}
        common: dict[str, Any] = {"stage": "stream", "namespace": "AWS/Kinesis", "dimensions": dimensions}
        return [
            AlarmSpec(
                id="stream-iterator-age",
                name="stream-iterator-age",
                description=(
                    f"The oldest unread record is over {alarms.iterator_age_ms // 1000} s old: the stream consumer "
                    "falls behind and records near the retention limit will be lost. Check first: the consumer's "
                    "errors and duration, its StreamRecordsFailed metric, then stream_consumer.parallelization_factor."
                ),
                metric_name="GetRecords.IteratorAgeMilliseconds",
                statistic="Maximum",
                threshold=alarms.iterator_age_ms,
                comparison="GreaterThanThreshold",
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                **common,
            ),
            any_in_five_minutes(
                "stream-write-throttles",
                "Producers' PutRecord(s) calls were refused for lack of stream capacity. Check first: "
                "IncomingRecords/IncomingBytes against the shard limits (1,000 records or 1 MiB per second per "
                "shard); raise kinesis.shard_count or switch kinesis.mode to ON_DEMAND.",
                "stream",
                "AWS/Kinesis",
                "WriteProvisionedThroughputExceeded",
                dimensions,
            ),
        ]


@dataclass(frozen=True)
class ConsumerMappingProps:
    """Kinesis → stream_consumer event source mapping (ARCHITECTURE §5)."""

    naming: Naming
    stream: StreamRef
    function_name: str  # the consumer function
    function_role_name: str  # its execution role: gets send rights on the on-failure queue
    function_policy: object  # the role's policy: AWS checks the Kinesis read rights when the mapping is created
    ops_key: KeyRef  # encrypts the on-failure queue
    settings: StreamConsumerSettings = field(
        default_factory=StreamConsumerSettings
    )  # bounded retries: a poison batch cannot block a shard


class ConsumerMapping(Construct):
    """Reads the stream into the consumer; failed batches (after bisecting and retries) go to an SQS queue.

    The consumer reports partial failures (``ReportBatchItemFailures``), so only the bad records are retried.
    Exposes ``mapping``, ``failure_queue`` and ``alarms`` (its depth alarm spec).
    """

    def __init__(self, scope: Construct, id: str, props: ConsumerMappingProps) -> None:
        super().__init__(scope, id)
        settings = props.settings
        self.failure_queue = aws.sqs_queue.SqsQueue(
            self,
            "on-failure",
            name=props.naming.name("stream-consumer-failed", Kind.SQS),
            kms_master_key_id=props.ops_key.arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=1_209_600,  # 14 days, the SQS maximum: time to inspect and replay
        )
        # Lambda sends the failure record with the function's own role.
        grant = aws.iam_role_policy.IamRolePolicy(
            self,
            "on-failure-grant",
            name=props.naming.name("stream-consumer-on-failure", Kind.IAM_POLICY),
            role=props.function_role_name,
            policy=document(
                allow("SendFailedBatches", ["sqs:SendMessage"], [self.failure_queue.arn]),
                allow("EncryptFailedBatches", ["kms:Decrypt", "kms:GenerateDataKey"], [props.ops_key.arn]),
            ),
        )
        esm = aws.lambda_event_source_mapping
        self.mapping = esm.LambdaEventSourceMapping(
            self,
            "mapping",
            event_source_arn=props.stream.arn,
            function_name=props.function_name,
            starting_position="LATEST",
            batch_size=settings.batch_size,
            maximum_batching_window_in_seconds=settings.batching_window_seconds,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=settings.max_retry_attempts,
            maximum_record_age_in_seconds=settings.max_record_age_seconds,
            parallelization_factor=settings.parallelization_factor,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=esm.LambdaEventSourceMappingDestinationConfig(
                on_failure=esm.LambdaEventSourceMappingDestinationConfigOnFailure(
                    destination_arn=self.failure_queue.arn
                )
            ),
            depends_on=[grant, props.function_policy],
        )
        self.alarms = [
            queue_depth_alarm(
                "stream-on-failure-depth",
                "stream-consumer-failed-depth",
                "stream",
                self.failure_queue.name,
                "Stream records failed every retry and their batch was sent to the on-failure queue (the message "
                "names the shard and sequence numbers, not the data). Check first: ERROR lines of the stream "
                "consumer at that time; then re-read those records from the stream while it still retains them.",
            )
        ]
