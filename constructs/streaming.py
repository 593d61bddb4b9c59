"""Kinesis inference-request stream (ARCHITECTURE §4)."""

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import allow, document


@dataclass(frozen=True)
class StreamingProps:
    """The inference-request stream."""

    naming: Naming
    kms_key_arn: str  # server-side encryption with our key
    mode: str = "ON_DEMAND"  # or PROVISIONED with shard_count
    shard_count: int | None = None
    retention_hours: int = 24  # 24-8760
    protect: bool = False  # prevent_destroy (prod)


class Streaming(Construct):
    """Exposes ``stream`` (aws KinesisStream), ``name``, ``arn``."""

    def __init__(self, scope: Construct, id: str, props: StreamingProps) -> None:
        super().__init__(scope, id)
        self.stream = aws.kinesis_stream.KinesisStream(
            self,
            "stream",
            name=props.naming.name("inference-requests", Kind.KINESIS),
            stream_mode_details={"stream_mode": props.mode},
            shard_count=props.shard_count if props.mode == "PROVISIONED" else None,
            retention_period=props.retention_hours,
            encryption_type="KMS",
            kms_key_id=props.kms_key_arn,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.protect else None,
        )
        self.name: str = self.stream.name
        self.arn: str = self.stream.arn


@dataclass(frozen=True)
class ConsumerMappingProps:
    """Kinesis → stream_consumer event source mapping (ARCHITECTURE §5)."""

    naming: Naming
    stream_arn: str
    function_name: str  # the consumer function
    function_role_name: str  # its execution role: gets send rights on the on-failure queue
    function_policy: object  # the role's policy: AWS checks the Kinesis read rights when the mapping is created
    ops_key_arn: str  # encrypts the on-failure queue
    batch_size: int = 100
    batching_window_seconds: int = 5
    max_retry_attempts: int = 3  # bounded: a poison batch cannot block the shard forever
    max_record_age_seconds: int = 3600
    parallelization_factor: int = 1


class ConsumerMapping(Construct):
    """Reads the stream into the consumer; failed batches (after bisecting and retries) go to an SQS queue.

    The consumer reports partial failures (``ReportBatchItemFailures``), so only the bad records are retried.
    Exposes ``mapping``, ``failure_queue``.
    """

    def __init__(self, scope: Construct, id: str, props: ConsumerMappingProps) -> None:
        super().__init__(scope, id)
        self.failure_queue = aws.sqs_queue.SqsQueue(
            self,
            "on-failure",
            name=props.naming.name("stream-consumer-failed", Kind.SQS),
            kms_master_key_id=props.ops_key_arn,
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
                allow("EncryptFailedBatches", ["kms:Decrypt", "kms:GenerateDataKey"], [props.ops_key_arn]),
            ),
        )
        esm = aws.lambda_event_source_mapping
        self.mapping = esm.LambdaEventSourceMapping(
            self,
            "mapping",
            event_source_arn=props.stream_arn,
            function_name=props.function_name,
            starting_position="LATEST",
            batch_size=props.batch_size,
            maximum_batching_window_in_seconds=props.batching_window_seconds,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=props.max_retry_attempts,
            maximum_record_age_in_seconds=props.max_record_age_seconds,
            parallelization_factor=props.parallelization_factor,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=esm.LambdaEventSourceMappingDestinationConfig(
                on_failure=esm.LambdaEventSourceMappingDestinationConfigOnFailure(
                    destination_arn=self.failure_queue.arn
                )
            ),
            depends_on=[grant, props.function_policy],
        )
