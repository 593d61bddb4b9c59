"""One hardened S3 bucket: the secure defaults of every bucket we create, in one place (ARCHITECTURE §4).

Defaults: SSE-KMS with our key and a bucket key, versioning, all four public-access blocks, ``BucketOwnerEnforced``
(ACLs off), a TLS-only policy that also refuses uploads asking for another key, server access logs to the logs
bucket, noncurrent-version expiry and aborted multipart uploads cleaned up.
"""

from dataclasses import dataclass, field
from typing import Any

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.aws_modules import aws
from constructs.policy import Statement, deny_insecure_transport, deny_wrong_kms_key, document
from constructs.refs import BucketRef


@dataclass(frozen=True)
class Transition:
    days: int
    storage_class: str  # STANDARD_IA | GLACIER | DEEP_ARCHIVE ...


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
            if props.expire_days
            else None,
        )
