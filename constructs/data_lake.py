"""The S3 data lake: raw, processed, model-artifacts, athena-results, and the access-logs bucket (ARCHITECTURE §4)."""

from dataclasses import dataclass

from constructs import Construct
from constructs.naming import Kind, Naming
from constructs.policy import allow_access_log_delivery
from constructs.secure_bucket import SecureBucket, SecureBucketProps, Transition


@dataclass(frozen=True)
class DataLakeProps:
    """Buckets of the ML data lake."""

    naming: Naming
    account_id: str  # only this account's buckets may write access logs
    data_key_arn: str  # encrypts raw, processed and athena-results
    ml_key_arn: str  # encrypts model artifacts
    infrequent_access_days: int = 30  # raw/processed → STANDARD_IA
    glacier_days: int = 90  # raw/processed → GLACIER
    expire_days: int = 365  # raw/processed objects are deleted
    noncurrent_expire_days: int = 90  # every bucket: old versions are deleted
    athena_results_expire_days: int = 30  # query results are deleted
    access_logs_expire_days: int = 365  # access logs are deleted
    force_destroy: bool = False  # dev/emulator only
    prevent_destroy: bool = False  # prod: Terraform refuses to destroy the buckets


class DataLake(Construct):
    """Exposes ``logs``, ``raw``, ``processed``, ``model_artifacts``, ``athena_results`` (each a SecureBucket)."""

    def __init__(self, scope: Construct, id: str, props: DataLakeProps) -> None:
        super().__init__(scope, id)
        n = props.naming

        def bucket(component: str, **overrides) -> SecureBucket:
            name = n.name(component, Kind.S3_BUCKET)
            settings = {
                "name": name,
                "kms_key_arn": props.data_key_arn,
                "access_logs": self.logs,
                "access_logs_prefix": f"{component}/",
                "noncurrent_expire_days": props.noncurrent_expire_days,
                "force_destroy": props.force_destroy,
                "prevent_destroy": props.prevent_destroy,
                **overrides,
            }
            return SecureBucket(self, component, SecureBucketProps(**settings))

        logs_name = n.name("access-logs", Kind.S3_BUCKET)
        # S3 server access logging delivers only to SSE-S3 buckets, and the target cannot log to itself.
        self.logs = SecureBucket(
            self,
            "access-logs",
            SecureBucketProps(
                name=logs_name,
                kms_key_arn=None,
                access_logs=None,
                noncurrent_expire_days=props.noncurrent_expire_days,
                expire_days=props.access_logs_expire_days,
                force_destroy=props.force_destroy,
                prevent_destroy=props.prevent_destroy,
                extra_policy=(allow_access_log_delivery(logs_name, props.account_id, f"{n.project}-*"),),
            ),
        )
        tiers = (
            Transition(props.infrequent_access_days, "STANDARD_IA"),
            Transition(props.glacier_days, "GLACIER"),
        )
        self.raw = bucket("raw", transitions=tiers, expire_days=props.expire_days)
        self.processed = bucket("processed", transitions=tiers, expire_days=props.expire_days)
        self.model_artifacts = bucket("model-artifacts", kms_key_arn=props.ml_key_arn)
        self.athena_results = bucket("athena-results", expire_days=props.athena_results_expire_days)
