"""Alerting and monitoring (ARCHITECTURE §7): the SNS alerts topic every alarm and event rule publishes to.

Secure defaults of the topic: encrypted with the ops key (whose key policy lets CloudWatch and EventBridge use it), a
topic policy that admits CloudWatch alarms *of this account* and EventBridge rules as publishers, and a TLS-only deny.
E-mail subscriptions are optional; each address must confirm the subscription mail AWS sends.
"""

import re
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field, field_validator

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import Statement, document
from constructs.refs import KeyRef, TopicRef
from constructs.settings import Settings

EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


def subscription_id(address: str) -> str:
    """Construct id of an address's subscription: from the address, not the list position, so removing one address
    leaves the others alone."""
    return "email-" + re.sub(r"[^A-Za-z0-9]+", "-", address.lower())


def check_unique_addresses(addresses: list[str]) -> list[str]:
    """Each address once (ignoring case, and the punctuation a construct id cannot hold)."""
    ids = [subscription_id(a) for a in addresses]
    repeated = sorted({a.lower() for a, i in zip(addresses, ids, strict=True) if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"each address may be listed once; repeated: {repeated}")
    return addresses


class AlertsSettings(Settings):
    """Who gets the alerts."""

    alert_emails: list[EmailAddress] = Field(default_factory=list)  # subscribed to the alerts topic (each once)

    _unique = field_validator("alert_emails")(check_unique_addresses)


@dataclass(frozen=True)
class AlertsProps:
    """The alerts topic and its subscribers."""

    naming: Naming  # resource naming for this environment
    ops_key: KeyRef  # encrypts the topic (its key policy lets CloudWatch and EventBridge use it)
    account_id: str  # only alarms and rules of this account may publish
    settings: AlertsSettings = field(default_factory=AlertsSettings)


def topic_policy(topic_arn: str, account_id: str) -> str:
    """CloudWatch alarms of this account and EventBridge rules may publish; nobody may publish without TLS.

    EventBridge gets its own statement without a condition: "You can't use Condition blocks in Amazon SNS topic
    policies for EventBridge" (EventBridge User Guide, "Using resource-based policies for Amazon EventBridge", Amazon
    SNS permissions) -- with ``aws:SourceAccount`` every rule's delivery would be refused. Only rules that name this
    topic as a target publish, and every rule of ours lives in this account (constructs/event_rules.py).
    """
    statements: list[Statement] = [
        {
            "Sid": "AllowAccountAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            # Confused-deputy guard: an alarm acting for another account is refused.
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        {
            "Sid": "AllowEventBridgeRulesToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    return document(*statements)


class Alerts(Construct):
    """Exposes ``topic`` (aws SnsTopic), ``topic_arn``, ``ref`` and ``subscriptions`` (one per e-mail address)."""

    def __init__(self, scope: Construct, id: str, props: AlertsProps) -> None:
        super().__init__(scope, id)

        self.topic = aws.sns_topic.SnsTopic(
            self,
            "topic",
            name=props.naming.name("alerts", Kind.SNS),
            display_name=f"{props.naming.project} {props.naming.stem} alerts",
            kms_master_key_id=props.ops_key.arn,
        )
        self.topic_arn: str = self.topic.arn
        self.ref = TopicRef(self.topic_arn)
        self.policy = aws.sns_topic_policy.SnsTopicPolicy(
            self, "policy", arn=self.topic.arn, policy=topic_policy(self.topic.arn, props.account_id)
        )
        self.subscriptions = [
            aws.sns_topic_subscription.SnsTopicSubscription(
                self,
                subscription_id(address),
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=address,
            )
            for address in props.settings.alert_emails
        ]
