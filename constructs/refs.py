"""Wiring: small references to what one construct built and another uses (ARCHITECTURE §1, settings vs wiring).

Props carry these (plus the construct's own settings), never copies of another construct's knobs. Values are plain
strings at synth time; for resources not created yet they are cdktf tokens that resolve to Terraform references.
"""

from dataclasses import dataclass

from constructs.naming import Naming


@dataclass(frozen=True)
class Deployment:
    """Where a construct is built: the environment's naming, account and region."""

    naming: Naming
    account_id: str  # the deploying account (a token of aws_caller_identity)
    region: str
    partition: str = "aws"  # ARN partition (aws, aws-cn, aws-us-gov)


@dataclass(frozen=True)
class KeyRef:
    arn: str  # a KMS key's ARN


@dataclass(frozen=True)
class BucketRef:
    name: str
    arn: str


@dataclass(frozen=True)
class TableRef:
    name: str
    arn: str


@dataclass(frozen=True)
class StreamRef:
    name: str
    arn: str


@dataclass(frozen=True)
class FunctionRef:
    name: str
    arn: str
    invoke_arn: str  # what API Gateway integrations call


@dataclass(frozen=True)
class TopicRef:
    arn: str  # an SNS topic's ARN
