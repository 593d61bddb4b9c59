"""Alerting and monitoring (ARCHITECTURE §7): the SNS alerts topic every alarm, event rule and budget publishes to.

Secure defaults of the topic: encrypted with the ops key (whose key policy lets CloudWatch, EventBridge and AWS Budgets
use it), a topic policy that admits CloudWatch alarms and budgets *of this account* and EventBridge rules as
publishers, and a TLS-only deny. Subscribers are e-mail addresses (each must confirm the mail AWS sends) and HTTPS
endpoints (chat or paging tools; each must confirm SNS's SubscriptionConfirmation request). Where stateful resources are
protected or endpoints are enabled, the configuration must name at least one (stacks/config.py).
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from constructs import Construct
from constructs.alarms import AlarmSpec, build_alarm, spec_problems
from constructs.aws_modules import aws
from constructs.dashboard import Graph, alarm_graph, dashboard_body
from constructs.naming import Kind, Naming
from constructs.policy import Statement, document
from constructs.refs import Deployment, KeyRef, TopicRef
from constructs.settings import Settings

EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
# SNS delivers over HTTPS only to a public host name; SNS's endpoint limit is far above a sane URL, 2048 is the
# practical one. Plain http would send every alert (and SNS's confirmation token) in clear text: refused.
HttpsEndpoint = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$", max_length=2048)]


def subscription_id(address: str) -> str:
    """Construct id of an address's subscription: from the address, not the list position, so removing one address
    leaves the others alone."""
    return "email-" + re.sub(r"[^A-Za-z0-9]+", "-", address.lower())


def https_subscription_id(url: str) -> str:
    """Construct id of an HTTPS subscription: the host and a digest of the URL. Chat and paging webhooks carry their
    secret in the path; the id is part of every plan line's address, so the path must not appear in it."""
    host = re.sub(r"[^A-Za-z0-9]+", "-", (urlsplit(url).hostname or "").lower())
    return f"https-{host}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def check_unique_endpoints(urls: list[str]) -> list[str]:
    """Each URL once (a repeated webhook would page twice for every alert)."""
    repeated = sorted({u for u in urls if urls.count(u) > 1})
    if repeated:
        raise ValueError(f"each endpoint may be listed once; {len(repeated)} repeated")
    return urls


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
    alert_https_endpoints: list[HttpsEndpoint] = Field(default_factory=list)  # chat / paging webhooks (each once)

    _unique = field_validator("alert_emails")(check_unique_addresses)
    _unique_endpoints = field_validator("alert_https_endpoints")(check_unique_endpoints)

    @property
    def subscriber_count(self) -> int:
        return len(self.alert_emails) + len(self.alert_https_endpoints)


@dataclass(frozen=True)
class AlertsProps:
    """The alerts topic and its subscribers."""

    naming: Naming  # resource naming for this environment
    ops_key: KeyRef  # encrypts the topic (its key policy lets CloudWatch and EventBridge use it)
    account_id: str  # only alarms and rules of this account may publish
    settings: AlertsSettings = field(default_factory=AlertsSettings)


def topic_policy(topic_arn: str, account_id: str, partition: str = "aws") -> str:
    """CloudWatch alarms and budgets of this account and EventBridge rules may publish; nobody may publish without TLS.

    AWS Budgets: the statement of the Cost Management User Guide, "Creating an Amazon SNS topic for budget
    notifications" (``aws:SourceAccount`` and ``aws:SourceArn`` like ``arn:aws:budgets::<account>:*``).

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
            "Sid": "AllowAccountBudgetsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account_id}:*"},
            },
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
    """Exposes ``topic`` (aws SnsTopic), ``topic_arn``, ``ref`` and ``subscriptions`` (one per address and URL)."""

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
        ] + [
            aws.sns_topic_subscription.SnsTopicSubscription(
                self,
                https_subscription_id(url),
                topic_arn=self.topic.arn,
                protocol="https",
                endpoint=url,
            )
            for url in props.settings.alert_https_endpoints
        ]


# The dashboard's text widget: where an operator looks first. Each name is a README section (tests check they exist).
RUNBOOK_SECTIONS = (
    "Alarms: what each one means and what to check first",
    "Rollout and rollback of a model",
    "Training, approval, batch scoring and A/B results",
    "Deploying",
)
RUNBOOK = (
    "# ML pipeline: {env}\nEvery alarm notifies the alerts topic; its description says what to check first. "
    "Runbook (README.md): " + " · ".join(f"**{section}**" for section in RUNBOOK_SECTIONS) + "."
)


class BudgetSettings(Settings):
    """The environment's monthly AWS Budget (``budget`` in cdktf.json), notifying the alerts topic.

    The budget counts the costs tagged ``Environment=<env>`` (every resource carries the tag through the provider's
    default tags). AWS Budgets only sees a tag once it is activated as a cost allocation tag (Billing console, "Cost
    allocation tags"): activate ``Environment`` once per payer account, or the budget stays at 0.
    """

    monthly_limit_usd: float = Field(1000, gt=0, le=1_000_000_000)
    # Percent of the limit at which actual spend alerts; each once, ascending.
    actual_alert_percents: list[int] = Field(default_factory=lambda: [80, 100], min_length=1)
    forecast_alert_percent: int | None = Field(100, ge=1, le=1000)  # forecasted spend of the month; None: off

    @field_validator("actual_alert_percents")
    @classmethod
    def _ascending(cls, percents: list[int]) -> list[int]:
        if any(not 1 <= p <= 1000 for p in percents) or percents != sorted(set(percents)):
            raise ValueError("percents between 1 and 1000, each once, ascending")
        # "A budget can have up to ten notifications" (AWS Budgets API reference, Notification).
        if len(percents) > 9:
            raise ValueError("at most 9 (a budget has at most 10 notifications, one is the forecast)")
        return percents


@dataclass(frozen=True)
class MonitoringProps:
    """The environment's alarms, dashboard and budget."""

    deployment: Deployment  # naming, region (dashboard) and account (budget filter)
    alerts_topic: TopicRef  # every alarm (on ALARM and on OK) and every budget notification go here
    alarms: tuple[AlarmSpec, ...]  # built here, from every construct's specs
    shown: tuple[AlarmSpec, ...] = ()  # alarms built by their owner (phase two variants): shown, not built again
    graphs: tuple[Graph, ...] = ()  # graphs no alarm needs (throughput)
    runbook: str = ""  # the dashboard's text widget: where to look first
    budget: BudgetSettings = field(default_factory=BudgetSettings)


def duplicate_problems(specs: Sequence[AlarmSpec]) -> list[str]:
    """Alarm ids and names are unique in a stack (a repeated name would make two alarms fight over one)."""
    problems = []
    for label, values in (("ids", [s.id for s in specs]), ("names", [s.name for s in specs])):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            problems.append(f"alarm {label} repeated: {repeated}")
    return problems


class Monitoring(Construct):
    """Exposes ``alarms`` (spec id -> aws CloudwatchMetricAlarm), ``dashboard``, ``dashboard_name`` and ``budget``."""

    def __init__(self, scope: Construct, id: str, props: MonitoringProps) -> None:
        super().__init__(scope, id)
        problems = duplicate_problems([*props.alarms, *props.shown])
        problems += [p for spec in [*props.alarms, *props.shown] for p in spec_problems(spec)]
        if problems:
            raise ValueError("monitoring: " + "; ".join(problems))
        naming, topic = props.deployment.naming, props.alerts_topic.arn
        self.alarms = {
            spec.id: build_alarm(self, naming, spec, alarm_actions=[topic], ok_actions=[topic]) for spec in props.alarms
        }
        graphs = [alarm_graph(spec) for spec in [*props.alarms, *props.shown]] + list(props.graphs)
        self.dashboard = aws.cloudwatch_dashboard.CloudwatchDashboard(
            self,
            "dashboard",
            dashboard_name=naming.name("pipeline"),
            dashboard_body=dashboard_body(graphs, props.deployment.region, props.runbook),
        )
        self.dashboard_name: str = self.dashboard.dashboard_name
        self.budget = self._budget(props)

    def _budget(self, props: MonitoringProps) -> Any:
        b, settings, naming = aws.budgets_budget, props.budget, props.deployment.naming

        def notification(kind: str, percent: int) -> Any:
            return b.BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                notification_type=kind,
                threshold=percent,
                threshold_type="PERCENTAGE",
                subscriber_sns_topic_arns=[props.alerts_topic.arn],
            )

        notifications = [notification("ACTUAL", p) for p in settings.actual_alert_percents]
        if settings.forecast_alert_percent is not None:
            notifications.append(notification("FORECASTED", settings.forecast_alert_percent))
        return b.BudgetsBudget(
            self,
            "budget",
            name=naming.name("monthly"),
            budget_type="COST",
            limit_amount=f"{settings.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filter=[b.BudgetsBudgetCostFilter(name="TagKeyValue", values=[f"user:Environment${naming.env}"])],
            notification=notifications,
        )
