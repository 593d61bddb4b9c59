"""The report's knowledge of resource types, as data: each entry carries the one-line reason a reviewer reads.

* ``STATEFUL``: deleting or replacing one of these loses data, or the protection of data; it blocks the check unless
  the reviewed acknowledgement file names that exact stack + address.
* ``WARN_ON_DELETE``: deleting one of these loses no data but removes something people rely on (an alarm, a
  dashboard, a protection); it is listed as a warning, and so is a delete-first replacement where the gap or the new
  object matters (a bucket without its policy for a moment, a topic whose e-mail subscribers must confirm again).
* ``PRECURSORS``: updates that lose nothing today but make a later loss silent or automatic. Two block
  (``force_destroy`` turned on, DynamoDB deletion protection turned off: the loss is then one apply away, and
  undoing them after the fact is impossible); the others are warnings a reviewer reads next to the diff.
* ``POLICY_ATTRIBUTES``: the attributes holding IAM-style policy documents, shown as a statement-level diff.

Deliberately not stateful (listed so the choice is visible): ``aws_s3_object`` (its bytes come from the repo or a
build; a replace re-uploads them), ``aws_kms_alias`` (a name: the key and what it encrypts survive),
``aws_sns_topic`` (stores no messages; a replace drops subscriptions, e-mail ones must be confirmed again: warning),
``aws_s3_bucket_policy`` / ``aws_s3_bucket_public_access_block`` (protections, not data: warning).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.plan_report.model import AttrPath
from tools.plan_report.paths import format_path, value_at

STATEFUL: dict[str, str] = {
    "aws_s3_bucket": "holds objects: a delete needs force_destroy to empty it, a replacement starts empty",
    "aws_s3_bucket_versioning": "keeps noncurrent versions (the undo history); removing it suspends versioning",
    "aws_dynamodb_table": "holds items, its point-in-time backups and streams: a replacement starts empty",
    "aws_kms_key": "everything encrypted under it becomes unreadable once its deletion window ends",
    "aws_kinesis_stream": "holds the records of its retention period",
    "aws_cloudwatch_log_group": "holds log events (the audit trail of the functions and workflows)",
    "aws_glue_catalog_database": "holds table definitions, including ones the crawler created outside Terraform",
    "aws_glue_catalog_table": "holds the schema and the partitions the crawler added",
    "aws_sagemaker_endpoint": "serves live traffic: a delete or replacement fails requests and drops runtime weights",
    "aws_sqs_queue": "holds messages (a dead-letter queue holds the failed events awaiting replay)",
    "aws_ecr_repository": "holds container images",
    "aws_secretsmanager_secret": "holds secret values and their versions",
    "aws_efs_file_system": "holds files",
    "aws_db_instance": "holds a database",
    "aws_rds_cluster": "holds a database",
}


@dataclass(frozen=True)
class Safeguard:
    reason: str
    delete_first_replace: bool = False  # also when replaced delete-first: the gap (or a new object) is the problem


WARN_ON_DELETE: dict[str, Safeguard] = {
    "aws_cloudwatch_metric_alarm": Safeguard("an alarm stops watching its metric"),
    "aws_cloudwatch_composite_alarm": Safeguard("an alarm stops watching its alarms"),
    "aws_cloudwatch_dashboard": Safeguard("a dashboard people look at goes away"),
    "aws_budgets_budget": Safeguard("spend stops being watched"),
    "aws_sns_topic": Safeguard("alerts lose their topic; e-mail subscribers of a new topic must confirm again", True),
    "aws_sns_topic_subscription": Safeguard(
        "someone stops receiving alerts (a new e-mail subscription waits for confirmation)", True
    ),
    "aws_kms_alias": Safeguard("anything that names the key by alias fails until the alias exists again", True),
    "aws_s3_bucket_policy": Safeguard(
        "the bucket is without its TLS-only and encryption guards until the new policy is in place", True
    ),
    "aws_s3_bucket_public_access_block": Safeguard(
        "the bucket is without its public-access block until the new one is in place", True
    ),
    "aws_s3_object": Safeguard("the object is deleted"),
}

POLICY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "aws_iam_role": ("assume_role_policy",),
    "aws_iam_role_policy": ("policy",),
    "aws_iam_policy": ("policy",),
    "aws_iam_user_policy": ("policy",),
    "aws_iam_group_policy": ("policy",),
    "aws_kms_key": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
    "aws_s3_bucket_policy": ("policy",),
    "aws_ecr_repository_policy": ("policy",),
}

# The variable the functions read the phase flag from (constructs/functions.py ENV_ENDPOINTS_ENABLED), and where a
# Lambda function's plan values keep it: `environment` is a nested block, a list of one object.
PHASE_FLAG = "endpoints_enabled"
PHASE_FLAG_PATH: AttrPath = ("environment", 0, "variables", "ENDPOINTS_ENABLED")

# --- Precursors of data loss ---------------------------------------------------------------------------------------
# An extractor names the values a rule compares: label -> value (None: not set). A comparison says whether the
# step from the before value to the after value is the dangerous one.

Extractor = Callable[[Any], dict[str, Any]]
FOREVER = float("inf")


def attribute(*path: str | int) -> Extractor:
    def extract(values: Any) -> dict[str, Any]:
        return {format_path(path): value_at(values, path)}

    return extract


def lifecycle_days(block: str, field: str) -> Extractor:
    """Days after which each enabled lifecycle rule deletes; rules matched by id (their order may change)."""

    def extract(values: Any) -> dict[str, Any]:
        rules = value_at(values, ("rule",))
        found: dict[str, Any] = {}
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            rule_id = rule.get("id") if isinstance(rule.get("id"), str) else str(index)
            days = value_at(rule, (block, 0, field)) if rule.get("status") == "Enabled" else None
            found[f'rule["{rule_id}"].{block}.{field}'] = days
        return found

    return extract


def turned_on(before: Any, after: Any) -> bool:
    return before is not True and after is True


def turned_off(before: Any, after: Any) -> bool:
    return before is True and after is not True


def changed(before: Any, after: Any) -> bool:
    return before is not None and before != after


def left(value: str) -> Callable[[Any, Any], bool]:
    """The value was ``value`` and is no longer (e.g. versioning leaves "Enabled")."""

    def compare(before: Any, after: Any) -> bool:
        return before == value and after != value

    return compare


def shortened(*forever: Any) -> Callable[[Any, Any], bool]:
    """A retention got shorter; ``forever`` lists the values that mean "never expires" (None always does)."""

    def days(value: Any) -> float | None:
        if value is None or value in forever:
            return FOREVER
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def compare(before: Any, after: Any) -> bool:
        b, a = days(before), days(after)
        return b is not None and a is not None and a < b

    return compare


@dataclass(frozen=True)
class Precursor:
    resource_type: str
    root: str  # the top-level attribute: unknown at apply -> the rule cannot judge and stays quiet
    extract: Extractor
    dangerous: Callable[[Any, Any], bool]  # (before, after) -> whether this step is the dangerous one
    blocking: bool
    what: str  # what happened to the value: "turned on", "shortened"
    consequence: str  # what it means for the data
    default: Any = None  # what an unset value means (AWS's default), so that "unset" is not read as a change


PRECURSORS: tuple[Precursor, ...] = (
    Precursor(
        resource_type="aws_s3_bucket",
        root="force_destroy",
        extract=attribute("force_destroy"),
        dangerous=turned_on,
        blocking=True,
        what="turned on",
        consequence="a later destroy deletes every object and version without asking",
        default=False,
    ),
    Precursor(
        resource_type="aws_dynamodb_table",
        root="deletion_protection_enabled",
        extract=attribute("deletion_protection_enabled"),
        dangerous=turned_off,
        blocking=True,
        what="turned off",
        consequence="nothing stops the next plan that removes the table from deleting its items",
        default=False,
    ),
    Precursor(
        resource_type="aws_dynamodb_table",
        root="point_in_time_recovery",
        extract=attribute("point_in_time_recovery", 0, "enabled"),
        dangerous=turned_off,
        blocking=False,
        what="turned off",
        consequence="continuous backups stop and the restore window is lost",
        default=False,
    ),
    Precursor(
        resource_type="aws_dynamodb_table",
        root="ttl",
        extract=attribute("ttl", 0, "enabled"),
        dangerous=turned_on,
        blocking=False,
        what="turned on",
        consequence="items start expiring",
        default=False,
    ),
    Precursor(
        resource_type="aws_cloudwatch_log_group",
        root="retention_in_days",
        extract=attribute("retention_in_days"),
        dangerous=shortened(0),
        blocking=False,
        what="shortened",
        consequence="older log events are deleted",
    ),
    Precursor(
        resource_type="aws_kinesis_stream",
        root="retention_period",
        extract=attribute("retention_period"),
        dangerous=shortened(),
        blocking=False,
        what="shortened",
        consequence="records older than the new period are dropped",
    ),
    Precursor(
        resource_type="aws_sqs_queue",
        root="message_retention_seconds",
        extract=attribute("message_retention_seconds"),
        dangerous=shortened(),
        blocking=False,
        what="shortened",
        consequence="older messages (failed events waiting in a dead-letter queue) are deleted",
    ),
    Precursor(
        resource_type="aws_s3_bucket_lifecycle_configuration",
        root="rule",
        extract=lifecycle_days("expiration", "days"),
        dangerous=shortened(0),
        blocking=False,
        what="shortened",
        consequence="objects older than the new age are deleted",
    ),
    Precursor(
        resource_type="aws_s3_bucket_lifecycle_configuration",
        root="rule",
        extract=lifecycle_days("noncurrent_version_expiration", "noncurrent_days"),
        dangerous=shortened(0),
        blocking=False,
        what="shortened",
        consequence="noncurrent versions (the undo history) are deleted sooner",
    ),
    Precursor(
        resource_type="aws_s3_bucket_versioning",
        root="versioning_configuration",
        extract=attribute("versioning_configuration", 0, "status"),
        dangerous=left("Enabled"),
        blocking=False,
        what="no longer Enabled",
        consequence="overwritten or deleted objects can no longer be recovered",
    ),
    Precursor(
        resource_type="aws_kms_key",
        root="deletion_window_in_days",
        extract=attribute("deletion_window_in_days"),
        dangerous=changed,
        blocking=False,
        what="changed",
        consequence="the time left to cancel a scheduled key deletion changes",
    ),
    Precursor(
        resource_type="aws_kms_key",
        root="policy",
        extract=attribute("policy"),
        dangerous=changed,
        blocking=False,
        what="changed",
        consequence="who may use or manage the key changes (see the policy diff)",
    ),
    Precursor(
        resource_type="aws_kms_key",
        root="is_enabled",
        extract=attribute("is_enabled"),
        dangerous=turned_off,
        blocking=False,
        what="turned off",
        consequence="everything encrypted under the key is unreadable until it is enabled again",
        default=True,
    ),
    Precursor(
        resource_type="aws_cloudwatch_metric_alarm",
        root="actions_enabled",
        extract=attribute("actions_enabled"),
        dangerous=turned_off,
        blocking=False,
        what="turned off",
        consequence="the alarm no longer notifies anyone",
        default=True,
    ),
    Precursor(
        resource_type="aws_cloudwatch_event_rule",
        root="state",
        extract=attribute("state"),
        dangerous=left("ENABLED"),
        blocking=False,
        what="no longer ENABLED",
        consequence="the rule's targets stop receiving events",
        default="ENABLED",
    ),
    *(
        Precursor(
            resource_type="aws_s3_bucket_public_access_block",
            root=flag,
            extract=attribute(flag),
            dangerous=turned_off,
            blocking=False,
            what="turned off",
            consequence="the bucket's public-access block is loosened",
            default=False,
        )
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    ),
)

# Precursor values are typed settings (days, flags, states), never secrets: the report shows them unless Terraform
# marks them sensitive. The key policy is the exception: its content is shown as the policy diff instead.
PRECURSOR_VALUES_HIDDEN = frozenset({("aws_kms_key", "policy")})
