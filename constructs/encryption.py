"""Customer-managed KMS keys with rotation and explicit key policies (ARCHITECTURE §4).

Keys are split by domain so each has one reason to exist: ``data`` (data lake, tables, stream), ``ops`` (logs,
alerts, queues) and ``ml`` (model artifacts, SageMaker). A key policy always names the account root as administrator
(so IAM policies can grant use) and lets each AWS service principal use the key only on behalf of this account.
"""

from dataclasses import dataclass, field

from cdktf import TerraformResourceLifecycle
from pydantic import Field

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Naming
from constructs.policy import Statement, document
from constructs.refs import KeyRef
from constructs.settings import Settings

# What a service needs to encrypt and decrypt its own data with a customer-managed key.
_SERVICE_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


@dataclass(frozen=True)
class ServiceGrant:
    """A service principal allowed to use the key, scoped to our account."""

    service: str  # e.g. "sns.amazonaws.com"
    actions: tuple[str, ...] = tuple(_SERVICE_USE)
    # Extra conditions merged with aws:SourceAccount (e.g. the CloudWatch Logs encryption context).
    conditions: dict = field(default_factory=dict)
    source_account: bool = True  # some services (CloudWatch Logs) do not send aws:SourceAccount


class KmsSettings(Settings):
    """Knobs of the environment's keys (``kms`` in cdktf.json)."""

    deletion_window_days: int = Field(30, ge=7, le=30)  # waiting period before a scheduled deletion (KMS: 7-30)


@dataclass(frozen=True)
class KmsKeyProps:
    """One customer-managed key: what it is for and who may use it; its knobs are ``settings``."""

    naming: Naming
    component: str  # e.g. "data": alias is alias/{project}-{component}-key-{env}
    description: str  # why the key exists
    account_id: str  # account whose root administers the key
    services: tuple[ServiceGrant, ...] = ()  # service principals that may use the key
    settings: KmsSettings = field(default_factory=KmsSettings)
    # prevent_destroy (protect_stateful): a destroyed key takes everything it encrypted with it, once the deletion
    # window ends, so the key is protected wherever the buckets, tables and stream it encrypts are.
    protect: bool = False


def key_policy(account_id: str, services: tuple[ServiceGrant, ...]) -> str:
    """Explicit key policy: root administers (enables IAM policies); each service uses the key for this account."""
    statements: list[Statement] = [
        {
            "Sid": "AccountRootAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            # In a key policy, "*" means "this key": a key policy cannot name any other resource.
            "Resource": "*",
        }
    ]
    for grant in services:
        conditions = {k: dict(v) for k, v in grant.conditions.items()}
        if grant.source_account:
            conditions.setdefault("StringEquals", {})["aws:SourceAccount"] = account_id
        statements.append(
            {
                "Sid": "Allow" + "".join(p.capitalize() for p in grant.service.split(".")[0].split("-")),
                "Effect": "Allow",
                "Principal": {"Service": grant.service},
                "Action": sorted(grant.actions),
                "Resource": "*",
                "Condition": conditions,
            }
        )
    return document(*statements)


class KmsKey(Construct):
    """A symmetric customer-managed key with yearly rotation, an explicit policy and an alias."""

    def __init__(self, scope: Construct, id: str, props: KmsKeyProps) -> None:
        super().__init__(scope, id)
        self.alias_name = props.naming.alias(f"{props.component}-key")
        self.key = aws.kms_key.KmsKey(
            self,
            "key",
            description=props.description,
            enable_key_rotation=True,
            deletion_window_in_days=props.settings.deletion_window_days,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=key_policy(props.account_id, props.services),
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.protect else None,
        )
        self.alias = aws.kms_alias.KmsAlias(self, "alias", name=self.alias_name, target_key_id=self.key.key_id)
        self.arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.ref = KeyRef(self.arn)


def logs_grant(region: str, account_id: str) -> ServiceGrant:
    """CloudWatch Logs may use the key only for log groups of this account and region."""
    return ServiceGrant(
        service=f"logs.{region}.amazonaws.com",
        conditions={
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
        },
        source_account=False,
    )


def publisher_grant(
    service: str, *, account_id: str | None = None, region: str | None = None, partition: str = "aws"
) -> ServiceGrant:
    """A service that publishes into our encrypted SNS topics / SQS queues (CloudWatch alarms, EventBridge).

    EventBridge (``events.amazonaws.com``) gets no ``aws:SourceAccount`` condition. One key statement serves both
    of its deliveries on the ops key, and the documentation allows the source keys for only one of them:

    - to an SSE-KMS SNS topic (the alerts topic): the Amazon SNS Developer Guide, "Managing Amazon SNS encryption keys
      and costs" > "Enable compatibility between event sources from AWS services and encrypted topics", step 3,
      Important: "Adding the aws:SourceAccount, aws:SourceArn, and aws:SourceOrgID to a AWS KMS policy is not
      supported for EventBridge-to-encrypted topics". With the condition, every EventBridge alert is refused by KMS
      and lost after the retries (the CloudWatch alarm path is not affected: the same step recommends the keys for
      the other event sources);
    - to an SSE-KMS SQS queue (the rules' dead-letter queue): the Amazon SQS Developer Guide, "Amazon SQS Key
      management" > "Configure KMS permissions for AWS services" grants ``events.amazonaws.com`` kms:Decrypt and
      kms:GenerateDataKey without conditions, and "Configure AWS KMS permissions with confused deputy protection"
      lists CloudWatch Events among the services that support ``aws:SourceArn`` there.

    A statement cannot require a key on one path and forbid it on the other, so the source keys go. What narrows the
    statement instead is the encryption context SNS binds every data key to (``aws:sns:topicArn``, the condition AWS
    documents for service publishers, e.g. the Amazon GameLift FlexMatch guide "Set up an SNS topic with server-side
    encryption"): a topic the key encrypts for EventBridge must be one of this account's in this region -- pass
    ``account_id`` and ``region`` (without them only the partition is pinned, which keeps the statement valid but
    does not narrow it). ``...IfExists`` because the dead-letter path carries SQS's context, not SNS's. SQS's own
    context key is not in the SQS documentation, so it is not used; nor is ``aws:SourceArn`` with ``IfExists``: what
    SNS puts in that key for EventBridge is undocumented, and a value other than the rule ARN would drop every alert.
    """
    actions = ("kms:Decrypt", "kms:GenerateDataKey*")
    if service != "events.amazonaws.com":
        return ServiceGrant(service=service, actions=actions)
    topics = f"arn:{partition}:sns:{region or '*'}:{account_id or '*'}:*"
    conditions = {"ArnLikeIfExists": {"kms:EncryptionContext:aws:sns:topicArn": topics}}
    return ServiceGrant(service=service, actions=actions, conditions=conditions, source_account=False)
