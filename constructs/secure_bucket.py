"""One hardened S3 bucket: the secure defaults of every bucket we create, in one place (ARCHITECTURE §4).

Defaults: SSE-KMS with our key and a bucket key, versioning, all four public-access blocks, ``BucketOwnerEnforced``
(ACLs off), a TLS-only policy that also refuses uploads asking for another key, server access logs to the logs
bucket, noncurrent-version expiry and aborted multipart uploads cleaned up.

The lifecycle rule is checked against the rules S3's PutBucketLifecycleConfiguration enforces at apply time (moto, and
so the emulator, accepts them all): :func:`lifecycle_problems`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.aws_modules import aws
from constructs.policy import Statement, deny_insecure_transport, deny_wrong_kms_key, document
from constructs.refs import BucketRef

# The storage classes a lifecycle transition may target (S3 API reference, Transition.StorageClass).
StorageClass = Literal["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
# S3's waterfall: where a later transition may move an object on from each class (S3 User Guide, "Transitioning
# objects using Amazon S3 Lifecycle", supported transitions). Nothing moves back up, and One Zone-IA never moves to
# Glacier Instant Retrieval.
LIFECYCLE_SUCCESSORS: dict[str, tuple[str, ...]] = {
    "STANDARD_IA": ("INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"),
    "INTELLIGENT_TIERING": ("ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"),
    "ONEZONE_IA": ("GLACIER", "DEEP_ARCHIVE"),
    "GLACIER_IR": ("GLACIER", "DEEP_ARCHIVE"),
    "GLACIER": ("DEEP_ARCHIVE",),
    "DEEP_ARCHIVE": (),
}
# Objects move to the infrequent-access classes only once they are 30 days old. S3: "'Days' in Transition action must
# be greater than or equal to 30 for storageClass 'STANDARD_IA'".
MIN_DAYS_BEFORE_CLASS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
# Days an object stays in a class before a later transition of the same rule may move it on (the class's minimum
# storage duration). S3: "'Days' in the 'Transition' action for StorageClass 'GLACIER' for filter '(prefix=)' must be
# 30 days more than 'filter '(prefix=)'' in the 'Transition' action for StorageClass 'STANDARD_IA'" (90 days after
# GLACIER, as a DEEP_ARCHIVE transition's error reads, and after GLACIER_IR, whose minimum duration is also 90 days).
MIN_DAYS_IN_CLASS = {"STANDARD_IA": 30, "ONEZONE_IA": 30, "GLACIER_IR": 90, "GLACIER": 90}


@dataclass(frozen=True)
class Transition:
    days: int  # days after creation
    storage_class: StorageClass


def _transition_step_problems(earlier: Transition, later: Transition) -> list[str]:
    """S3's rules for two transitions of one rule, ``earlier.days <= later.days``."""
    if later.storage_class == earlier.storage_class:
        return [f"two transitions to {later.storage_class}: S3 allows one transition per storage class in a rule"]
    allowed = LIFECYCLE_SUCCESSORS[earlier.storage_class]
    where = f"{later.storage_class} on day {later.days} after {earlier.storage_class} on day {earlier.days}"
    if later.storage_class not in allowed or later.days == earlier.days:
        targets = ", ".join(allowed) or "nothing"
        return [f"{where}: S3 moves objects from {earlier.storage_class} only to {targets}, on a later day"]
    stay = MIN_DAYS_IN_CLASS.get(earlier.storage_class, 0)
    if later.days < earlier.days + stay:
        return [
            f"{where}: S3 keeps an object in {earlier.storage_class} for at least {stay} days before the next "
            f"transition (need day ≥ {earlier.days} + {stay} = {earlier.days + stay})"
        ]
    return []


def lifecycle_problems(
    transitions: Sequence[Transition], expire_days: int | None, noncurrent_expire_days: int
) -> list[str]:
    """Every rule S3 enforces on the one lifecycle rule :class:`SecureBucket` builds, each problem with its numbers.

    S3 refuses (PutBucketLifecycleConfiguration, InvalidArgument / InvalidRequest): an infrequent-access transition
    before day 30; two transitions to one class; a transition up the waterfall or on the same day; a transition
    sooner than the previous class's minimum stay (:data:`MIN_DAYS_IN_CLASS`); an expiration on or before the last
    transition ("'Days' in the Expiration action for filter '(prefix=)' must be greater than 'Days' in the Transition
    action"); and day counts below 1 for the expirations ("... must be a positive integer").
    """
    problems = [
        f"{t.storage_class} on day {t.days}: S3 moves objects to {t.storage_class} only once they are "
        f"{MIN_DAYS_BEFORE_CLASS[t.storage_class]} days old (need day ≥ {MIN_DAYS_BEFORE_CLASS[t.storage_class]})"
        for t in transitions
        if t.days < MIN_DAYS_BEFORE_CLASS.get(t.storage_class, 0)
    ]
    ordered = sorted(transitions, key=lambda t: t.days)
    for earlier, later in pairwise(ordered):
        problems += _transition_step_problems(earlier, later)
    if expire_days is not None and expire_days < 1:
        problems.append(f"expiration on day {expire_days}: S3 needs a positive number of days")
    elif expire_days is not None and ordered and expire_days <= ordered[-1].days:
        last = ordered[-1]
        problems.append(
            f"expiration on day {expire_days} is not after the last transition ({last.storage_class} on day "
            f"{last.days}): S3 needs an expiration later than every transition (need day ≥ {last.days + 1})"
        )
    if noncurrent_expire_days < 1:
        problems.append(
            f"noncurrent versions expire after {noncurrent_expire_days} days: S3 needs a positive number of days"
        )
    return problems


@dataclass(frozen=True)
class SecureBucketProps:
    """A bucket and its hardening."""

    name: str  # full bucket name (already validated by Naming)
    kms_key_arn: str | None  # None only where AWS requires SSE-S3 (the server access logs target)
    access_logs: "SecureBucket | None"  # target of server access logs; None only for a logs bucket itself
    kms_key_aliases: tuple[str, ...] = ()  # alias ARNs clients may name instead of the key ARN (uploads accept both)
    access_logs_prefix: str = ""  # prefix inside the logs bucket
    noncurrent_expire_days: int = 90  # old versions are deleted after this many days
    transitions: tuple[Transition, ...] = ()  # current objects change storage class
    expire_days: int | None = None  # current objects are deleted after this many days
    eventbridge: bool = True  # send object events to EventBridge (free without matching rules; an audit trail)
    force_destroy: bool = False  # allow destroy of a non-empty bucket (dev/emulator only)
    prevent_destroy: bool = False  # Terraform refuses to plan the bucket's destruction
    extra_policy: tuple[Statement, ...] = field(default_factory=tuple)  # appended to the bucket policy


class SecureBucket(Construct):
    """Exposes ``bucket``, ``name``, ``arn``."""

    def __init__(self, scope: Construct, id: str, props: SecureBucketProps) -> None:
        super().__init__(scope, id)
        if problems := lifecycle_problems(props.transitions, props.expire_days, props.noncurrent_expire_days):
            raise ValueError(f"bucket {props.name}: lifecycle: " + "; ".join(problems))
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if props.prevent_destroy else None
        self.bucket = aws.s3_bucket.S3Bucket(
            self, "bucket", bucket=props.name, force_destroy=props.force_destroy, lifecycle=lifecycle
        )
        self.name: str = self.bucket.bucket
        self.arn: str = self.bucket.arn
        self.ref = BucketRef(self.name, self.arn)
        bucket_id = self.bucket.id

        public_access = aws.s3_bucket_public_access_block.S3BucketPublicAccessBlock(
            self,
            "public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3_bucket_ownership_controls.S3BucketOwnershipControls(
            self, "ownership", bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"}
        )
        versioning = aws.s3_bucket_versioning.S3BucketVersioningA(
            self, "versioning", bucket=bucket_id, versioning_configuration={"status": "Enabled"}
        )
        sse = aws.s3_bucket_server_side_encryption_configuration
        if props.kms_key_arn:
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=props.kms_key_arn
            )
        else:
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="AES256"
            )
        sse.S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket_id,
            rule=[
                sse.S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=bool(props.kms_key_arn)
                )
            ],
        )

        statements = [deny_insecure_transport(self.arn)]
        if props.kms_key_arn:
            statements += deny_wrong_kms_key(self.arn, [props.kms_key_arn, *props.kms_key_aliases])
        statements += list(props.extra_policy)
        self.policy = aws.s3_bucket_policy.S3BucketPolicy(
            self, "policy", bucket=bucket_id, policy=document(*statements), depends_on=[public_access]
        )

        if props.access_logs:
            aws.s3_bucket_logging.S3BucketLoggingA(
                self,
                "logging",
                bucket=bucket_id,
                target_bucket=props.access_logs.name,
                target_prefix=props.access_logs_prefix or f"{props.name}/",
                # S3 checks at PutBucketLogging that the target's policy already admits the logging service.
                depends_on=[props.access_logs.policy],
            )

        aws.s3_bucket_lifecycle_configuration.S3BucketLifecycleConfiguration(
            self, "lifecycle", bucket=bucket_id, rule=[self._lifecycle_rule(props)], depends_on=[versioning]
        )
        if props.eventbridge:
            aws.s3_bucket_notification.S3BucketNotification(self, "events", bucket=bucket_id, eventbridge=True)

    @staticmethod
    def _lifecycle_rule(props: SecureBucketProps) -> Any:
        lc = aws.s3_bucket_lifecycle_configuration
        return lc.S3BucketLifecycleConfigurationRule(
            id="retention",
            status="Enabled",
            filter=[lc.S3BucketLifecycleConfigurationRuleFilter(prefix="")],
            abort_incomplete_multipart_upload=[
                lc.S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
            ],
            noncurrent_version_expiration=[
                lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=props.noncurrent_expire_days
                )
            ],
            transition=[
                lc.S3BucketLifecycleConfigurationRuleTransition(days=t.days, storage_class=t.storage_class)
                for t in props.transitions
            ]
            or None,
            expiration=[lc.S3BucketLifecycleConfigurationRuleExpiration(days=props.expire_days)]
            if props.expire_days is not None
            else None,
        )
