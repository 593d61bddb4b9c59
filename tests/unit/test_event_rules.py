"""EventBridge triggers (ARCHITECTURE §7): exact patterns, inputs, retry + dead-letter on every target, least privilege.

The construct is synthesized alone (a stack with a provider and fixed ARNs), so each value below is the exact string
AWS receives. The ops key's EventBridge grant is tested here too: it decides whether these rules' deliveries work.
"""

import json
from typing import Any

import pytest
from cdktf import App, TerraformStack
from pydantic import ValidationError

from constructs.aws_modules import aws
from constructs.encryption import key_policy, logs_grant, publisher_grant
from constructs.event_rules import (
    ENDPOINT_RULE,
    RAW_UPLOAD_RULE,
    SCHEDULE_RULE,
    TRAINING_RULE,
    EventRules,
    EventRulesProps,
    TriggersSettings,
)
from constructs.naming import LONGEST_COMPONENTS, Kind, Naming
from constructs.refs import BucketRef, Deployment, KeyRef, TopicRef
from tests.support.synth import of_type, path_of, policy_of, ref_id

ACCOUNT = "123456789012"
STATE_MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:mlpipe-training-dev"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:mlpipe-alerts-dev"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0000-1111"
RAW = "mlpipe-raw-dev-123456789012-us-east-1"
NAMING = Naming(project="mlpipe", env="dev")
SCHEDULED = TriggersSettings(training_schedule="cron(0 3 ? * MON *)")


def _props(settings: TriggersSettings = SCHEDULED, **wiring: Any) -> EventRulesProps:
    values: dict[str, Any] = {
        "deployment": Deployment(NAMING, ACCOUNT, "us-east-1"),
        "training_state_machine_arn": STATE_MACHINE,
        "training_job_prefix": "mlpipe-train-dev",
        "endpoint_name": "mlpipe-endpoint-dev",
        "raw_bucket": BucketRef(RAW, f"arn:aws:s3:::{RAW}"),
        "raw_event_prefix": "incoming/",
        "alerts_topic": TopicRef(TOPIC),
        "ops_key": KeyRef(KEY),
        "settings": settings,
    }
    return EventRulesProps(**{**values, **wiring})


def _synth(tmp_path_factory: pytest.TempPathFactory, settings: TriggersSettings) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("event-rules")
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "rules")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    EventRules(stack, "event-rules", _props(settings))
    app.synth()
    return json.loads((outdir / "stacks" / "rules" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return _synth(tmp_path_factory, SCHEDULED)


@pytest.fixture(scope="module")
def unscheduled(tmp_path_factory):
    return _synth(tmp_path_factory, TriggersSettings())


def _by_component(stack: dict[str, Any], rtype: str, suffix: str = "") -> dict[str, dict[str, Any]]:
    """Resources of ``rtype`` keyed by the last part of their construct path (minus ``suffix``)."""
    return {path_of(body).rsplit("/", 1)[1].removesuffix(suffix): body for body in of_type(stack, rtype).values()}


def _rules(stack):
    return _by_component(stack, "aws_cloudwatch_event_rule")


def _targets(stack):
    return _by_component(stack, "aws_cloudwatch_event_target", "-target")


def _address(stack: dict[str, Any], rtype: str) -> str:
    """Terraform address of the one resource of ``rtype``."""
    (body,) = of_type(stack, rtype).values()
    return f"{rtype}.{ref_id(body)}"


def _ref(stack: dict[str, Any], rtype: str, attribute: str) -> str:
    return f"${{{_address(stack, rtype)}.{attribute}}}"


# --- rules and their patterns ----------------------------------------------------------------------------------


def test_four_rules_named_by_the_convention(stack):
    assert {c: r["name"] for c, r in _rules(stack).items()} == {
        SCHEDULE_RULE: "mlpipe-training-schedule-dev",
        RAW_UPLOAD_RULE: "mlpipe-raw-object-created-dev",
        TRAINING_RULE: "mlpipe-training-state-change-dev",
        ENDPOINT_RULE: "mlpipe-endpoint-state-change-dev",
    }


def test_rule_components_fit_the_lengths_the_config_checks():
    longest = len(LONGEST_COMPONENTS[Kind.EVENT_RULE])
    assert all(len(c) <= longest for c in (SCHEDULE_RULE, RAW_UPLOAD_RULE, TRAINING_RULE, ENDPOINT_RULE))


def test_schedule_rule_starts_training_with_a_constant_input(stack):
    rule, target = _rules(stack)[SCHEDULE_RULE], _targets(stack)[SCHEDULE_RULE]
    assert rule["schedule_expression"] == "cron(0 3 ? * MON *)"
    assert "event_pattern" not in rule
    assert target["arn"] == STATE_MACHINE
    assert json.loads(target["input"]) == {"trigger": "schedule"}
    assert "input_transformer" not in target


def test_raw_upload_pattern_is_exact(stack):
    assert json.loads(_rules(stack)[RAW_UPLOAD_RULE]["event_pattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [RAW]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }


def test_raw_upload_passes_the_event_itself_to_the_workflow(stack):
    target = _targets(stack)[RAW_UPLOAD_RULE]
    assert target["arn"] == STATE_MACHINE
    assert target["role_arn"] == _ref(stack, "aws_iam_role", "arn")
    # No input, input path or transformer: the workflow reads $.detail.bucket.name and $.detail.object.key.
    assert not {"input", "input_path", "input_transformer"} & set(target)


def test_training_pattern_matches_only_our_jobs_ending(stack):
    assert json.loads(_rules(stack)[TRAINING_RULE]["event_pattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Training Job State Change"],
        "detail": {
            "TrainingJobName": [{"prefix": "mlpipe-train-dev-"}],
            "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
        },
    }


def test_endpoint_pattern_matches_only_our_endpoint(stack):
    assert json.loads(_rules(stack)[ENDPOINT_RULE]["event_pattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {"EndpointName": ["mlpipe-endpoint-dev"]},
    }


# --- alert messages ----------------------------------------------------------------------------------------------


def test_training_alert_is_one_readable_line_with_the_reason_last(stack):
    target = _targets(stack)[TRAINING_RULE]
    assert target["arn"] == TOPIC
    assert "role_arn" not in target  # SNS is reached through its topic policy
    transformer = target["input_transformer"]
    assert transformer["input_paths"] == {
        "job": "$.detail.TrainingJobName",
        "status": "$.detail.TrainingJobStatus",
        "reason": "$.detail.FailureReason",
        "time": "$.time",
        "account": "$.account",
        "region": "$.region",
    }
    # A string template (one JSON string): SNS delivers plain text. FailureReason exists only for Failed jobs and a
    # missing path renders as nothing, so it is last, behind a label saying when it is set.
    assert json.loads(transformer["input_template"]) == (
        "[mlpipe dev] SageMaker training job <job> is <status> (<time>, account <account>, <region>). "
        "Failure reason (set only when the job failed): <reason>"
    )


def test_endpoint_alert_is_one_readable_line(stack):
    target = _targets(stack)[ENDPOINT_RULE]
    assert target["arn"] == TOPIC
    assert "role_arn" not in target
    transformer = target["input_transformer"]
    assert transformer["input_paths"] == {
        "endpoint": "$.detail.EndpointName",
        "status": "$.detail.EndpointStatus",
        "config": "$.detail.EndpointConfigName",
        "time": "$.time",
        "account": "$.account",
        "region": "$.region",
    }
    assert json.loads(transformer["input_template"]) == (
        "[mlpipe dev] SageMaker endpoint <endpoint> is <status> "
        "(endpoint config <config>; <time>, account <account>, <region>)."
    )


def test_every_template_placeholder_has_a_path(stack):
    for component in (TRAINING_RULE, ENDPOINT_RULE):
        transformer = _targets(stack)[component]["input_transformer"]
        template = json.loads(transformer["input_template"])
        placeholders = {p.split(">", 1)[0] for p in template.split("<")[1:]}
        assert placeholders == set(transformer["input_paths"]), component


# --- delivery: retries and the dead-letter queue ----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["stack", "unscheduled"])
def test_every_target_retries_then_dead_letters(fixture, request):
    synthesized = request.getfixturevalue(fixture)
    queue = _ref(synthesized, "aws_sqs_queue", "arn")
    targets = _targets(synthesized)
    assert set(targets) == set(_rules(synthesized))  # one target per rule, none dangling
    for component, target in targets.items():
        assert target["retry_policy"] == {"maximum_retry_attempts": 8, "maximum_event_age_in_seconds": 3600}, component
        assert target["dead_letter_config"] == {"arn": queue}, component
        assert _address(synthesized, "aws_sqs_queue_policy") in target["depends_on"], component


def test_retry_settings_reach_every_target(tmp_path_factory):
    settings = TriggersSettings(retry_attempts=0, max_event_age_seconds=60)
    for target in _targets(_synth(tmp_path_factory, settings)).values():
        assert target["retry_policy"] == {"maximum_retry_attempts": 0, "maximum_event_age_in_seconds": 60}


def test_dead_letter_queue_uses_the_ops_key_for_fourteen_days(stack):
    (queue,) = of_type(stack, "aws_sqs_queue").values()
    assert queue == {
        "//": queue["//"],
        "name": "mlpipe-event-rules-dlq-dev",
        "kms_master_key_id": KEY,
        "message_retention_seconds": 14 * 24 * 3600,
    }


def test_only_these_rules_of_this_account_may_dead_letter_and_only_over_tls(stack):
    (policy,) = of_type(stack, "aws_sqs_queue_policy").values()
    queue = _ref(stack, "aws_sqs_queue", "arn")
    assert policy["queue_url"] == _ref(stack, "aws_sqs_queue", "url")
    rule_arns = [f"${{aws_cloudwatch_event_rule.{ref_id(r)}.arn}}" for r in _rules(stack).values()]
    allow, deny = policy_of(policy)["Statement"]
    assert allow == {
        "Sid": "AllowTheseRulesToDeadLetter",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {
            "ArnEquals": {"aws:SourceArn": allow["Condition"]["ArnEquals"]["aws:SourceArn"]},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(rule_arns)
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_dead_letter_depth_alarm_spec(tmp_path):
    app = App(outdir=str(tmp_path))
    rules = EventRules(TerraformStack(app, "s"), "event-rules", _props())
    (alarm,) = rules.alarms
    assert (alarm.namespace, alarm.metric_name, alarm.statistic) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert (alarm.threshold, alarm.comparison) == (0, "GreaterThanThreshold")
    assert alarm.dimensions == {"QueueName": rules.dead_letter_queue_name}


# --- the role of the workflow targets ----------------------------------------------------------------------------


def test_role_is_trusted_only_by_eventbridge_for_this_account(stack):
    (role,) = of_type(stack, "aws_iam_role").values()
    assert role["name"] == "mlpipe-training-trigger-dev"
    assert policy_of(role, "assume_role_policy")["Statement"] == [
        {
            "Sid": "EventBridgeAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_role_may_only_start_the_training_workflow(stack):
    (policy,) = of_type(stack, "aws_iam_role_policy").values()
    assert policy["role"] == _ref(stack, "aws_iam_role", "id")
    assert policy_of(policy)["Statement"] == [
        {
            "Sid": "StartTrainingWorkflow",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [STATE_MACHINE],
        }
    ]


def test_only_workflow_targets_use_the_role(stack):
    role = _ref(stack, "aws_iam_role", "arn")
    uses = {c for c, t in _targets(stack).items() if t.get("role_arn") == role}
    assert uses == {SCHEDULE_RULE, RAW_UPLOAD_RULE}


# --- schedule off ------------------------------------------------------------------------------------------------


def test_no_schedule_means_no_schedule_rule_and_no_dangling_target(unscheduled):
    assert set(_rules(unscheduled)) == {RAW_UPLOAD_RULE, TRAINING_RULE, ENDPOINT_RULE}
    assert set(_targets(unscheduled)) == {RAW_UPLOAD_RULE, TRAINING_RULE, ENDPOINT_RULE}
    assert not any("schedule_expression" in r for r in _rules(unscheduled).values())
    (policy,) = of_type(unscheduled, "aws_sqs_queue_policy").values()
    assert len(policy_of(policy)["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == 3


def test_schedule_is_off_by_default():
    assert TriggersSettings().training_schedule is None


# --- settings: AWS's rules, checked before synth ------------------------------------------------------------------


def _errors(**settings: Any) -> dict[tuple, str]:
    with pytest.raises(ValidationError) as error:
        TriggersSettings(**settings)
    return {e["loc"]: e["msg"].removeprefix("Value error, ") for e in error.value.errors()}


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(15 minutes)",
        "rate(1 hour)",
        "rate(2 days)",
        "cron(0 12 * * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(0/30 20-2 ? * MON-FRI *)",
        "cron(15 10 ? * 6L 2019-2022)",
        "cron(0 8 3W JAN,JUL ? *)",
        "cron(0 9 ? * 3#2 *)",
        "cron(0 0 L * ? *)",
    ],
)
def test_schedules_eventbridge_accepts(expression):
    assert TriggersSettings(training_schedule=expression).training_schedule == expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(1 minutes)", "'rate(1 minutes)': a value of 1 takes the singular unit 'minute'"),
        ("rate(5 hour)", "'rate(5 hour)': a value of 5 takes the plural unit 'hours'"),
        ("rate(0 days)", "'rate(0 days)': a rate's value is at least 1"),
        (
            "rate(2 weeks)",
            "'rate(2 weeks)': a rate's unit is one of minute, minutes, hour, hours, day, days, got 'weeks'",
        ),
        (
            "rate(1.5 hours)",
            "'rate(1.5 hours)': a rate is rate(<value> <unit>) with a whole number value, e.g. rate(5 minutes)",
        ),
        ("every day", "'every day': a schedule is rate(<value> <unit>) or cron(<6 fields>)"),
        (
            "cron(0 12 * *)",
            "'cron(0 12 * *)': a cron expression has 6 fields "
            "(minutes hours day-of-month month day-of-week year), got 4",
        ),
        ("cron(0 12 * * * *)", "'cron(0 12 * * * *)': exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 ? * ? *)", "'cron(0 12 ? * ? *)': exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(60 12 * * ? *)", "'cron(60 12 * * ? *)': minutes value '60' is not 0-59"),
        ("cron(0 0 ? 13 MON *)", "'cron(0 0 ? 13 MON *)': month value '13' is not 1-12 or JAN-DEC"),
        ("cron(0 0 ? * FUN *)", "'cron(0 0 ? * FUN *)': day-of-week value 'FUN' is not 1-7 or SUN-SAT"),
        ("cron(0 0 * * ? 1969)", "'cron(0 0 * * ? 1969)': year value '1969' is not 1970-2199"),
        ("cron(0 0 ? * 1/2 *)", "'cron(0 0 ? * 1/2 *)': day-of-week '1/2' is not valid (wildcards: , - * ? L #)"),
        ("cron(? 0 * * ? *)", "'cron(? 0 * * ? *)': '?' is only allowed in day-of-month and day-of-week, not minutes"),
        ("cron(0 0/0 * * ? *)", "'cron(0 0/0 * * ? *)': hours '0/0': an increment is at least 1"),
        ("cron(0 9 ? * 3#1,6#3 *)", "'cron(0 9 ? * 3#1,6#3 *)': a day-of-week with '#' holds a single expression"),
    ],
)
def test_schedules_eventbridge_refuses(expression, message):
    assert _errors(training_schedule=expression) == {("training_schedule",): message}


def test_every_cron_problem_is_listed_at_once():
    assert _errors(training_schedule="cron(61 24 * * * *)") == {
        ("training_schedule",): "'cron(61 24 * * * *)': minutes value '61' is not 0-59; "
        "'cron(61 24 * * * *)': hours value '24' is not 0-23; "
        "'cron(61 24 * * * *)': exactly one of day-of-month and day-of-week must be '?'"
    }


def test_schedule_length_is_bounded():
    assert _errors(training_schedule="rate(1 day)" + " " * 250) == {
        ("training_schedule",): "String should have at most 256 characters"
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"retry_attempts": -1}, "Input should be greater than or equal to 0"),
        ({"retry_attempts": 186}, "Input should be less than or equal to 185"),
        ({"max_event_age_seconds": 59}, "Input should be greater than or equal to 60"),
        ({"max_event_age_seconds": 86_401}, "Input should be less than or equal to 86400"),
    ],
)
def test_retry_policy_bounds(settings, message):
    assert _errors(**settings) == {(next(iter(settings)),): message}


def test_unknown_trigger_settings_are_refused():
    assert _errors(schedule="rate(1 day)") == {("schedule",): "Extra inputs are not permitted"}


# --- wiring checked at construction --------------------------------------------------------------------------------


def test_wiring_problems_are_listed_at_once(tmp_path):
    props = _props(
        training_state_machine_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
        training_job_prefix="",
        endpoint_name="bad_name",
        raw_event_prefix="",
    )
    with pytest.raises(ValueError) as error:
        EventRules(TerraformStack(App(outdir=str(tmp_path)), "s"), "event-rules", props)
    assert str(error.value) == (
        "event rules: training_state_machine_arn 'arn:aws:lambda:us-east-1:123456789012:function:x' is not a Step "
        "Functions state machine ARN; training_job_prefix '' is not a SageMaker name (1-63 letters, digits and -); "
        "endpoint_name 'bad_name' is not a SageMaker name (1-63 letters, digits and -); raw_event_prefix is empty: "
        "every object of the raw bucket would start training"
    )


# --- the ops key's EventBridge grant (constructs/encryption.py publisher_grant) ---------------------------------


def _ops_key_statements(**location: str) -> dict[str, dict[str, Any]]:
    grants = (
        logs_grant("us-east-1", ACCOUNT),
        publisher_grant("cloudwatch.amazonaws.com", **location),
        publisher_grant("events.amazonaws.com", **location),
    )
    statements = json.loads(key_policy(ACCOUNT, grants))["Statement"]
    return {s["Principal"]["Service"]: s for s in statements[1:]}


def test_eventbridge_key_grant_carries_no_source_keys():
    """Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services and encrypted
    topics": aws:SourceAccount / aws:SourceArn / aws:SourceOrgID in a KMS policy are "not supported for
    EventBridge-to-encrypted topics" -- with them every alert EventBridge publishes to the alerts topic is refused."""
    for location in ({}, {"account_id": ACCOUNT, "region": "us-east-1"}):
        events = _ops_key_statements(**location)["events.amazonaws.com"]
        assert "aws:Source" not in json.dumps(events), location
        assert events["Sid"] == "AllowEvents"
        assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]


@pytest.mark.parametrize(
    ("location", "topics"),
    [
        ({"account_id": ACCOUNT, "region": "us-east-1"}, f"arn:aws:sns:us-east-1:{ACCOUNT}:*"),
        ({}, "arn:aws:sns:*:*:*"),  # unlocated: valid, but only the partition is pinned
    ],
)
def test_eventbridge_key_grant_pins_sns_topics_by_encryption_context(location, topics):
    events = _ops_key_statements(**location)["events.amazonaws.com"]
    # IfExists: the dead-letter path (SQS) carries no SNS encryption context and must still pass.
    assert events["Condition"] == {"ArnLikeIfExists": {"kms:EncryptionContext:aws:sns:topicArn": topics}}


def test_cloudwatch_key_grant_keeps_its_source_account_condition():
    """The same SNS guide recommends the source keys for the other event sources: CloudWatch keeps its guard."""
    for location in ({}, {"account_id": ACCOUNT, "region": "us-east-1"}):
        cloudwatch = _ops_key_statements(**location)["cloudwatch.amazonaws.com"]
        assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
