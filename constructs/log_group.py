"""A log group a construct owns: created before its writer, with our retention and KMS key (ARCHITECTURE §5).

AWS services create a missing log group on first write, without retention or encryption and outside Terraform's
state; every writer (a function, an API stage, an endpoint, a WAF) therefore gets its group from here, created first.
"""

from typing import Any

from cdktf import Token
from pydantic import Field

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.settings import LogRetentionDays, Settings


class LogsSettings(Settings):
    """Knobs of every log group of an environment."""

    retention_days: LogRetentionDays = Field(365)  # CloudWatch Logs retention (one of the values AWS accepts)


def owned_log_group(
    scope: Construct, id: str, *, naming: Naming, name: str, component: str, retention_days: int, kms_key_arn: str
) -> Any:
    """``name`` checked against CloudWatch Logs' naming rule, retained ``retention_days``, encrypted with the key."""
    if not Token.is_unresolved(name):  # a name holding a token (an API's id) is AWS's own pattern: nothing to check
        naming.check(name, Kind.LOG_GROUP, component)
    return aws.cloudwatch_log_group.CloudwatchLogGroup(
        scope, id, name=name, retention_in_days=retention_days, kms_key_id=kms_key_arn
    )
