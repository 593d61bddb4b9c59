"""Kinesis inference-request stream (ARCHITECTURE §4)."""

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming


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
