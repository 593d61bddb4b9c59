"""EventBridge triggers (ARCHITECTURE §7): what starts the training workflow, and what reports SageMaker's state.

Rules (each ``{project}-{component}-{env}`` on the default event bus):

- ``training-schedule`` (only with ``triggers.training_schedule``): starts the training workflow with the constant
  input ``{"trigger": "schedule"}``;
- ``raw-object-created``: an object created under ``data_lake.raw_event_prefix`` in the raw bucket (which sends its
  events to EventBridge) starts the training workflow with the S3 event itself as input: the workflow reads
  ``$.detail.bucket.name`` and ``$.detail.object.key``;
- ``training-state-change``: our training jobs (``<training_job_prefix>-<uuid>``) ending Completed, Failed or Stopped
  are published to the alerts topic as one readable line;
- ``endpoint-state-change``: every state change of our endpoint is published to the alerts topic as one line.

Secure defaults (this module):

- every target has the retry policy of the settings and one dead-letter queue, owned here: ops key, 14 days, and a
  queue policy that lets ``events.amazonaws.com`` send only for these rules of this account, plus a TLS-only deny;
- the workflow targets use a role that only EventBridge acting for this account can assume, allowed exactly
  ``states:StartExecution`` on the training state machine; the topic targets use no role (EventBridge User Guide,
  "Using resource-based policies": a RoleArn on SNS/SQS targets can make KMS-encrypted deliveries fail);
- the state-change messages are input transformers: a path missing from the event "isn't created and doesn't
  appear in the output" (EventBridge User Guide, input transformer tutorial), so a value that is only sometimes
  present (a training job's FailureReason) comes last, after a label that says when it is set: a Completed job ends
  in an empty reason, never in a "null" that reads like a failure. EventBridge does not escape extracted values, so
  a reason containing a double quote can make the delivery fail: the event then lands in the dead-letter queue,
  whose depth alarm (``alarms``) reports it.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cdktf import Token
from pydantic import Field, field_validator

from constructs import Construct
from constructs.alarms import AlarmSpec, queue_depth_alarm
from constructs.aws_modules import aws
from constructs.lambda_function import DLQ_RETENTION_SECONDS
from constructs.naming import Kind, Naming
from constructs.policy import Statement, allow, document, service_principal, service_trust_policy
from constructs.refs import BucketRef, Deployment, KeyRef, TopicRef
from constructs.settings import Settings

EVENTS_SERVICE = "events.amazonaws.com"
# Rule components: every one at most as long as naming.LONGEST_COMPONENTS[Kind.EVENT_RULE] ("training-state-change"),
# so the config check of name lengths covers them.
SCHEDULE_RULE = "training-schedule"
RAW_UPLOAD_RULE = "raw-object-created"
TRAINING_RULE = "training-state-change"
ENDPOINT_RULE = "endpoint-state-change"
ROLE_COMPONENT = "training-trigger"  # role and its inline policy (IAM_ROLE's longest component is 18 characters)
DLQ_COMPONENT = "event-rules-dlq"
TRUST_SID = "EventBridgeAssumesRoleForThisAccount"
START_SID = "StartTrainingWorkflow"
DLQ_SID = "AllowTheseRulesToDeadLetter"
WORKFLOW_TARGET_ID = "training-workflow"
ALERTS_TARGET_ID = "alerts-topic"
SCHEDULE_INPUT = {"trigger": "schedule"}
# SageMaker Developer Guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge".
TRAINING_DETAIL_TYPE = "SageMaker Training Job State Change"
ENDPOINT_DETAIL_TYPE = "SageMaker Endpoint State Change"
TRAINING_END_STATES = ("Completed", "Failed", "Stopped")  # TrainingJobStatus values that end a job

# EventBridge PutRule / PutTargets limits (EventBridge API Reference).
SCHEDULE_MAX_LENGTH = 256  # ScheduleExpression
MAX_RETRY_ATTEMPTS = 185  # RetryPolicy.MaximumRetryAttempts: 0-185
MIN_EVENT_AGE_SECONDS, MAX_EVENT_AGE_SECONDS = 60, 86_400  # RetryPolicy.MaximumEventAgeInSeconds
_TOKENLESS_STATE_MACHINE = re.compile(r"arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}")
_SAGEMAKER_NAME = re.compile(r"[A-Za-z0-9](-*[A-Za-z0-9]){0,62}")

# --- schedule expressions (EventBridge User Guide, "Creating an Amazon EventBridge rule that runs on a schedule") ---

RATE_UNITS = ("minute", "minutes", "hour", "hours", "day", "days")
CRON_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    wildcards: str  # besides the comma, which every field allows
    names: tuple[str, ...] = ()  # JAN..DEC or SUN..SAT, numbered from 1


CRON_FIELDS = (
    _CronField("minutes", 0, 59, "-*/"),
    _CronField("hours", 0, 23, "-*/"),
    _CronField("day-of-month", 1, 31, "-*?/LW"),
    _CronField("month", 1, 12, "-*/", _MONTHS),
    _CronField("day-of-week", 1, 7, "-*?L#", _DAYS),
    _CronField("year", 1970, 2199, "-*/"),
)
_RANGE_ITEM = re.compile(r"(?:\*|(?P<first>[0-9A-Z]+)(?:-(?P<last>[0-9A-Z]+))?)(?:/(?P<step>[0-9]+))?")
_SPECIAL_ITEMS = {
    "day-of-month": re.compile(r"L|(?P<first>[0-9]+)W"),  # the last day; the weekday nearest to day n
    "day-of-week": re.compile(r"L|(?P<first>[0-9A-Z]+)(?:L|#[1-5])"),  # the last <day> of the month; its n-th
}


def _value_problem(spec: _CronField, text: str) -> str | None:
    value = spec.names.index(text) + 1 if text in spec.names else int(text) if text.isdigit() else None
    if value is None or not spec.low <= value <= spec.high:
        allowed = f"{spec.low}-{spec.high}" + (f" or {spec.names[0]}-{spec.names[-1]}" if spec.names else "")
        return f"{spec.name} value {text!r} is not {allowed}"
    return None


def _item_match(spec: _CronField, item: str) -> re.Match[str] | None:
    special = _SPECIAL_ITEMS.get(spec.name)
    if special is not None and (match := special.fullmatch(item)):
        return match
    match = _RANGE_ITEM.fullmatch(item)
    if match is None or (match["step"] is not None and "/" not in spec.wildcards):
        return None
    return match


def _item_problem(spec: _CronField, item: str) -> str | None:
    match = _item_match(spec, item)
    if match is None:
        return f"{spec.name} {item!r} is not valid (wildcards: {' '.join([',', *spec.wildcards])})"
    groups = match.groupdict()
    if groups.get("step") is not None and int(groups["step"]) < 1:
        return f"{spec.name} {item!r}: an increment is at least 1"
    values = (groups.get("first"), groups.get("last"))
    return next((problem for text in values if text and (problem := _value_problem(spec, text))), None)


def _field_problems(spec: _CronField, text: str) -> list[str]:
    if text == "?":
        return (
            [] if "?" in spec.wildcards else [f"'?' is only allowed in day-of-month and day-of-week, not {spec.name}"]
        )
    items = text.split(",")
    problems = [p for p in (_item_problem(spec, item) for item in items) if p]
    if "#" in text and len(items) > 1:
        problems.append(f"a {spec.name} with '#' holds a single expression")
    return problems


def _cron_problems(body: str) -> list[str]:
    fields = body.split(" ")
    if len(fields) != len(CRON_FIELDS):
        return [f"a cron expression has 6 fields ({' '.join(CRON_FIELD_NAMES)}), got {len(fields)}"]
    problems = [p for spec, text in zip(CRON_FIELDS, fields, strict=True) for p in _field_problems(spec, text)]
    if (fields[2] == "?") == (fields[4] == "?"):
        problems.append("exactly one of day-of-month and day-of-week must be '?'")
    return problems


def _rate_problems(body: str) -> list[str]:
    value, _, unit = body.partition(" ")
    if not re.fullmatch(r"[0-9]+", value) or not unit:
        return ["a rate is rate(<value> <unit>) with a whole number value, e.g. rate(5 minutes)"]
    count = int(value)
    if count < 1:
        return ["a rate's value is at least 1"]
    if unit not in RATE_UNITS:
        return [f"a rate's unit is one of {', '.join(RATE_UNITS)}, got {unit!r}"]
    if count == 1 and unit.endswith("s"):
        return [f"a value of 1 takes the singular unit {unit[:-1]!r}"]
    if count > 1 and not unit.endswith("s"):
        return [f"a value of {count} takes the plural unit {unit + 's'!r}"]
    return []


def schedule_problems(expression: str) -> list[str]:
    """What EventBridge would refuse in a schedule expression (empty when it accepts it)."""
    rate = re.fullmatch(r"rate\((.*)\)", expression)
    cron = re.fullmatch(r"cron\((.*)\)", expression)
    if rate:
        problems = _rate_problems(rate[1])
    elif cron:
        problems = _cron_problems(cron[1])
    else:
        problems = ["a schedule is rate(<value> <unit>) or cron(<6 fields>)"]
    return [f"{expression!r}: {p}" for p in problems]


def check_schedule(value: str | None) -> str | None:
    if value is not None and (problems := schedule_problems(value)):
        raise ValueError("; ".join(problems))
    return value


class TriggersSettings(Settings):
    """What starts training on a schedule, and how long EventBridge keeps trying a target (``triggers``)."""

    # rate(<value> <unit>) or cron(<6 fields>), in UTC; each run starts the training workflow. None: no schedule
    # (uploads under data_lake.raw_event_prefix still start it).
    training_schedule: str | None = Field(None, max_length=SCHEDULE_MAX_LENGTH)
    retry_attempts: int = Field(8, ge=0, le=MAX_RETRY_ATTEMPTS)  # retries of a failed delivery, then the DLQ
    # An event older than this goes to the dead-letter queue instead of being retried (EventBridge: 60-86,400 s).
    max_event_age_seconds: int = Field(3600, ge=MIN_EVENT_AGE_SECONDS, le=MAX_EVENT_AGE_SECONDS)

    _schedule = field_validator("training_schedule")(check_schedule)


@dataclass(frozen=True)
class EventRulesProps:
    """What the rules start and where they report; their knobs are ``settings``."""

    # naming: rule, role and queue names; account_id: the aws:SourceAccount of the trust and queue policies
    deployment: Deployment
    training_state_machine_arn: str  # started by the schedule and by raw uploads (StartExecution on exactly it)
    training_job_prefix: str  # our training jobs are named <prefix>-<uuid>, e.g. "mlpipe-train-dev"
    endpoint_name: str  # the serving endpoint whose state changes are reported (it exists in phase two)
    raw_bucket: BucketRef  # must send its events to EventBridge (constructs/data_lake.py does)
    raw_event_prefix: str  # uploads under this key prefix start training (data_lake.raw_event_prefix)
    alerts_topic: TopicRef  # SageMaker state changes are published here
    ops_key: KeyRef  # encrypts the dead-letter queue
    settings: TriggersSettings = field(default_factory=TriggersSettings)


def _is_literal(value: str) -> bool:
    return not Token.is_unresolved(value)


def _validate(props: EventRulesProps) -> None:
    """Collect every wiring problem, raise once (the settings model has checked the knobs)."""
    problems = []
    arn = props.training_state_machine_arn
    if _is_literal(arn) and not _TOKENLESS_STATE_MACHINE.fullmatch(arn):
        problems.append(f"training_state_machine_arn {arn!r} is not a Step Functions state machine ARN")
    # An empty prefix or name would match every training job, endpoint or upload of the account.
    for name, value in (("training_job_prefix", props.training_job_prefix), ("endpoint_name", props.endpoint_name)):
        if _is_literal(value) and not _SAGEMAKER_NAME.fullmatch(value):
            problems.append(f"{name} {value!r} is not a SageMaker name (1-63 letters, digits and -)")
    if _is_literal(props.raw_event_prefix) and not props.raw_event_prefix:
        problems.append("raw_event_prefix is empty: every object of the raw bucket would start training")
    if problems:
        raise ValueError("event rules: " + "; ".join(problems))


def raw_upload_pattern(bucket_name: str, prefix: str) -> dict[str, Any]:
    """Objects created under ``prefix`` in the raw bucket (S3's EventBridge notification, "Object Created")."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": prefix}]}},
    }


def training_state_pattern(job_prefix: str) -> dict[str, Any]:
    """Our training jobs reaching an end state. Names are ``<prefix>-<uuid>``: the dash keeps ``mlpipe-train-dev``
    from matching ``mlpipe-train-devx-...`` (an environment whose name extends ours with a dash still would)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [TRAINING_DETAIL_TYPE],
        "detail": {"TrainingJobName": [{"prefix": f"{job_prefix}-"}], "TrainingJobStatus": list(TRAINING_END_STATES)},
    }


def endpoint_state_pattern(endpoint_name: str) -> dict[str, Any]:
    """Every state change of our endpoint (the event's EndpointStatus is upper case, e.g. IN_SERVICE, so no status
    filter that could miss a spelling)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [ENDPOINT_DETAIL_TYPE],
        "detail": {"EndpointName": [endpoint_name]},
    }


@dataclass(frozen=True)
class Transformer:
    """An input transformer: JSON paths of the event, and a template that is one JSON string (a plain-text message)."""

    paths: dict[str, str]
    template: str


def _where(naming: Naming) -> str:
    return f"[{naming.project} {naming.stem}]"


def training_alert(naming: Naming) -> Transformer:
    """``[mlpipe dev] SageMaker training job <job> is Failed (<time>, account <a>, <region>). Failure reason (set only
    when the job failed): <reason>`` -- the reason last, since SageMaker sends it only for Failed jobs."""
    text = (
        f"{_where(naming)} SageMaker training job <job> is <status> (<time>, account <account>, <region>). "
        "Failure reason (set only when the job failed): <reason>"
    )
    paths = {
        "job": "$.detail.TrainingJobName",
        "status": "$.detail.TrainingJobStatus",
        "reason": "$.detail.FailureReason",
        "time": "$.time",
        "account": "$.account",
        "region": "$.region",
    }
    return Transformer(paths, json.dumps(text))


def endpoint_alert(naming: Naming) -> Transformer:
    """``[mlpipe dev] SageMaker endpoint <name> is IN_SERVICE (endpoint config <c>; <time>, account <a>, <region>).``
    Every field is in every endpoint event (SageMaker Developer Guide), so no part of the line can be missing."""
    text = (
        f"{_where(naming)} SageMaker endpoint <endpoint> is <status> "
        "(endpoint config <config>; <time>, account <account>, <region>)."
    )
    paths = {
        "endpoint": "$.detail.EndpointName",
        "status": "$.detail.EndpointStatus",
        "config": "$.detail.EndpointConfigName",
        "time": "$.time",
        "account": "$.account",
        "region": "$.region",
    }
    return Transformer(paths, json.dumps(text))


def dead_letter_policy(queue_arn: str, rule_arns: list[str], account_id: str) -> str:
    """EventBridge may dead-letter into the queue only for these rules of this account; nobody may use it without TLS
    (EventBridge User Guide, "Granting permissions to the dead-letter queue")."""
    statements: list[Statement] = [
        {
            "Sid": DLQ_SID,
            "Effect": "Allow",
            "Principal": service_principal(EVENTS_SERVICE),
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": rule_arns},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    return document(*statements)


@dataclass(frozen=True)
class _RuleSpec:
    component: str
    description: str
    pattern: dict[str, Any] | None = None  # an event rule; or
    schedule: str | None = None  # a scheduled rule
    to_workflow: bool = True  # the training workflow (with the role); else the alerts topic
    input: str | None = None  # constant target input
    transformer: Transformer | None = None


def _rule_specs(props: EventRulesProps) -> list[_RuleSpec]:
    naming, schedule = props.deployment.naming, props.settings.training_schedule
    specs = [
        _RuleSpec(
            RAW_UPLOAD_RULE,
            "An object created under the raw event prefix starts the training workflow",
            pattern=raw_upload_pattern(props.raw_bucket.name, props.raw_event_prefix),
        ),
        _RuleSpec(
            TRAINING_RULE,
            "Our training jobs ending Completed, Failed or Stopped, published to the alerts topic",
            pattern=training_state_pattern(props.training_job_prefix),
            to_workflow=False,
            transformer=training_alert(naming),
        ),
        _RuleSpec(
            ENDPOINT_RULE,
            "Every state change of our SageMaker endpoint, published to the alerts topic",
            pattern=endpoint_state_pattern(props.endpoint_name),
            to_workflow=False,
            transformer=endpoint_alert(naming),
        ),
    ]
    if schedule is not None:
        description = f"Starts the training workflow on the schedule {schedule} (UTC)"
        specs.insert(0, _RuleSpec(SCHEDULE_RULE, description, schedule=schedule, input=json.dumps(SCHEDULE_INPUT)))
    return specs


def dead_letter_alarm(queue_name: str) -> AlarmSpec:
    """An event that no retry delivered: the training it should have started, or the alert it carried, is missing."""
    return queue_depth_alarm(
        "dlq-depth",
        "event-rules-dlq-depth",
        "ingest",
        queue_name,
        "An EventBridge rule could not deliver an event to its target (training workflow or alerts topic). "
        "Check first: the message attributes ERROR_CODE, ERROR_MESSAGE and RULE_ARN in the queue; fix the cause, "
        "then redrive.",
    )


class EventRules(Construct):
    """Exposes ``rules`` and ``targets`` (component → aws resource), ``dead_letter_queue`` (with
    ``dead_letter_queue_arn`` and ``dead_letter_queue_name``), ``queue_policy``, ``role`` (the workflow targets'),
    ``role_policy`` and ``alarms`` (specs for the monitoring construct)."""

    def __init__(self, scope: Construct, id: str, props: EventRulesProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        where, n = props.deployment, props.deployment.naming
        self.dead_letter_queue = aws.sqs_queue.SqsQueue(
            self,
            "dlq",
            name=n.name(DLQ_COMPONENT, Kind.SQS),
            kms_master_key_id=props.ops_key.arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
        )
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name(ROLE_COMPONENT, Kind.IAM_ROLE),
            description="Lets the EventBridge rules start the training workflow",
            assume_role_policy=service_trust_policy(TRUST_SID, EVENTS_SERVICE, where.account_id),
        )
        self.role_policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "role-policy",
            name=n.name(ROLE_COMPONENT, Kind.IAM_POLICY),
            role=self.role.id,
            policy=document(allow(START_SID, ["states:StartExecution"], [props.training_state_machine_arn])),
        )
        specs = _rule_specs(props)
        self.rules: dict[str, Any] = {
            spec.component: aws.cloudwatch_event_rule.CloudwatchEventRule(
                self,
                spec.component,
                name=n.name(spec.component, Kind.EVENT_RULE),
                description=spec.description,
                event_pattern=json.dumps(spec.pattern) if spec.pattern is not None else None,
                schedule_expression=spec.schedule,
            )
            for spec in specs
        }
        self.queue_policy = aws.sqs_queue_policy.SqsQueuePolicy(
            self,
            "dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=dead_letter_policy(
                self.dead_letter_queue.arn, [rule.arn for rule in self.rules.values()], where.account_id
            ),
        )
        self.targets: dict[str, Any] = {spec.component: self._target(spec, props) for spec in specs}
        self.dead_letter_queue_arn: str = self.dead_letter_queue.arn
        self.dead_letter_queue_name: str = self.dead_letter_queue.name
        self.alarms = [dead_letter_alarm(self.dead_letter_queue_name)]

    def _target(self, spec: _RuleSpec, props: EventRulesProps) -> Any:
        t = aws.cloudwatch_event_target
        settings = props.settings
        transformer = spec.transformer
        return t.CloudwatchEventTarget(
            self,
            f"{spec.component}-target",
            rule=self.rules[spec.component].name,
            target_id=WORKFLOW_TARGET_ID if spec.to_workflow else ALERTS_TARGET_ID,
            arn=props.training_state_machine_arn if spec.to_workflow else props.alerts_topic.arn,
            # Step Functions is reached through the role; SNS through its topic policy (no role: see module doc).
            role_arn=self.role.arn if spec.to_workflow else None,
            input=spec.input,
            input_transformer=(
                t.CloudwatchEventTargetInputTransformer(
                    input_paths=transformer.paths, input_template=transformer.template
                )
                if transformer
                else None
            ),
            retry_policy=t.CloudwatchEventTargetRetryPolicy(
                maximum_retry_attempts=settings.retry_attempts,
                maximum_event_age_in_seconds=settings.max_event_age_seconds,
            ),
            dead_letter_config=t.CloudwatchEventTargetDeadLetterConfig(arn=self.dead_letter_queue.arn),
            # The first deliveries must find the role's grant and the queue's policy in place.
            depends_on=[self.queue_policy, self.role_policy] if spec.to_workflow else [self.queue_policy],
        )
