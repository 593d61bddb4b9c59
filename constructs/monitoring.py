"""Alerting and monitoring (ARCHITECTURE §7): the SNS alerts topic every alarm and event rule publishes to.

Secure defaults of the topic: encrypted with the ops key (whose key policy already lets CloudWatch and EventBridge use
it), a topic policy that admits only CloudWatch alarms and EventBridge rules *of this account* as publishers, and a
TLS-only deny. E-mail subscriptions are optional; each address must confirm the subscription mail AWS sends.
"""

import re
from dataclasses import dataclass

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import Statement, document

# Services that publish alerts: CloudWatch alarms and EventBridge rules (ARCHITECTURE §7).
PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


@dataclass(frozen=True)
class AlertsProps:
    """The alerts topic and its subscribers."""

    naming: Naming  # resource naming for this environment
    ops_key_arn: str  # encrypts the topic (its key policy lets CloudWatch and EventBridge use it)
    account_id: str  # only alarms and rules of this account may publish
    alert_emails: tuple[str, ...] = ()  # e-mail addresses subscribed to the topic (each confirms by mail)


def topic_policy(topic_arn: str, account_id: str) -> str:
    """CloudWatch and EventBridge of this account may publish; nobody may publish without TLS."""
    statements: list[Statement] = [
        {
            "Sid": "AllowAccountAlarmsAndRulesToPublish",
            "Effect": "Allow",
            "Principal": {"Service": list(PUBLISHERS)},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            # Confused-deputy guard: a publisher acting for another account is refused.
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
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


def _validate(props: AlertsProps) -> None:
    problems = []
    duplicates = sorted({e for e in props.alert_emails if props.alert_emails.count(e) > 1})
    if duplicates:
        problems.append(f"alert_emails lists {duplicates} more than once")
    problems += [f"alert_emails: '{e}' is not an e-mail address" for e in props.alert_emails if "@" not in e]
    if problems:
        raise ValueError(f"environment '{props.naming.env}', alerts: " + "; ".join(problems))


class Alerts(Construct):
    """Exposes ``topic`` (aws SnsTopic), ``topic_arn`` and ``subscriptions`` (one per e-mail address)."""

    def __init__(self, scope: Construct, id: str, props: AlertsProps) -> None:
        super().__init__(scope, id)
        _validate(props)

        self.topic = aws.sns_topic.SnsTopic(
            self,
            "topic",
            name=props.naming.name("alerts", Kind.SNS),
            display_name=f"{props.naming.project} {props.naming.stem} alerts",
            kms_master_key_id=props.ops_key_arn,
        )
        self.topic_arn: str = self.topic.arn
        self.policy = aws.sns_topic_policy.SnsTopicPolicy(
            self, "policy", arn=self.topic.arn, policy=topic_policy(self.topic.arn, props.account_id)
        )
        # Construct ids come from the address, not the list position: removing one address leaves the others alone.
        self.subscriptions = [
            aws.sns_topic_subscription.SnsTopicSubscription(
                self,
                "email-" + re.sub(r"[^A-Za-z0-9]+", "-", address.lower()),
                topic_arn=self.topic.arn,
                protocol="email",
                endpoint=address,
            )
            for address in props.alert_emails
        ]
