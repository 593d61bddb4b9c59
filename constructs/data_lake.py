"""The S3 data lake: raw, processed, model-artifacts, athena-results, and the access-logs bucket (ARCHITECTURE §4)."""

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from constructs import Construct
from constructs.aws_limits import MAX_DAYS
from constructs.naming import Kind, Naming
from constructs.policy import allow_access_log_delivery
from constructs.refs import KeyRef
from constructs.secure_bucket import MIN_DAYS_IN_CLASS, SecureBucket, SecureBucketProps, Transition
from constructs.settings import Settings


class DataLakeSettings(Settings):
    """Knobs of the data lake (``data_lake`` in cdktf.json): lifecycle of the buckets, in days."""

    infrequent_access_days: int = Field(30, ge=30, le=MAX_DAYS)  # S3 requires ≥ 30 days before STANDARD_IA
    # raw/processed objects move to Glacier Flexible Retrieval (≥ infrequent_access_days + 30: S3's minimum stay in IA)
    glacier_days: int = Field(90, ge=1, le=MAX_DAYS)
    expire_days: int = Field(365, ge=1, le=MAX_DAYS)  # raw/processed objects are deleted (after glacier_days)
    noncurrent_expire_days: int = Field(90, ge=1, le=MAX_DAYS)  # old object versions are deleted (every bucket)
    athena_results_expire_days: int = Field(30, ge=1, le=MAX_DAYS)  # query results are deleted
    access_logs_expire_days: int = Field(365, ge=1, le=MAX_DAYS)  # server access logs are deleted
    raw_event_prefix: str = Field("incoming/", pattern=r"^[A-Za-z0-9!_.*'()/-]+/$")  # objects here start workflows
    force_destroy: bool = False  # let `destroy` empty buckets (dev/emulator only; refused with protect_stateful)

    # S3 checks the raw and processed buckets' lifecycle rule only at apply time (moto never does); these validators
    # report the same rules (secure_bucket.lifecycle_problems) under the field to change, with the numbers.

    @field_validator("glacier_days")
    @classmethod
    def _glacier_after_infrequent_access(cls, glacier: int, info: ValidationInfo) -> int:
        # S3: "'Days' in the 'Transition' action for StorageClass 'GLACIER' for filter '(prefix=)' must be 30 days more
        # than 'filter '(prefix=)'' in the 'Transition' action for StorageClass 'STANDARD_IA'".
        infrequent = info.data.get("infrequent_access_days")
        stay = MIN_DAYS_IN_CLASS["STANDARD_IA"]
        if infrequent is not None and glacier < infrequent + stay:
            raise ValueError(
                f"must be at least infrequent_access_days + {stay} = {infrequent} + {stay} = {infrequent + stay}: S3 "
                f"refuses a GLACIER transition less than {stay} days after the STANDARD_IA one"
            )
        return glacier

    @field_validator("expire_days")
    @classmethod
    def _expire_after_last_transition(cls, expire: int, info: ValidationInfo) -> int:
        # S3: "'Days' in the Expiration action for filter '(prefix=)' must be greater than 'Days' in the Transition
        # action". If glacier_days is itself invalid (reported there), the IA transition is the last one known.
        last = next((f for f in ("glacier_days", "infrequent_access_days") if info.data.get(f) is not None), None)
        if last is not None and expire <= info.data[last]:
            raise ValueError(
                f"must be greater than {last} ({info.data[last]}): S3 refuses an expiration on or before the last "
                f"transition (need ≥ {info.data[last] + 1})"
            )
        return expire


@dataclass(frozen=True)
class DataLakeProps:
    """Buckets of the ML data lake: what they are wired to; their knobs are ``settings``."""

    naming: Naming
    account_id: str  # only this account's buckets may write access logs
    data_key: KeyRef  # encrypts raw, processed and athena-results
    ml_key: KeyRef  # encrypts model artifacts
    prevent_destroy: bool = False  # protect_stateful: Terraform refuses to destroy the buckets
    settings: DataLakeSettings = field(default_factory=DataLakeSettings)


class DataLake(Construct):
    """Exposes ``logs``, ``raw``, ``processed``, ``model_artifacts``, ``athena_results`` (each a SecureBucket)."""

    def __init__(self, scope: Construct, id: str, props: DataLakeProps) -> None:
        super().__init__(scope, id)
        n, lake = props.naming, props.settings

        def bucket(component: str, **overrides: Any) -> SecureBucket:
            name = n.name(component, Kind.S3_BUCKET)
            settings = {
                "name": name,
                "kms_key_arn": props.data_key.arn,
                "access_logs": self.logs,
                "access_logs_prefix": f"{component}/",
                "noncurrent_expire_days": lake.noncurrent_expire_days,
                "force_destroy": lake.force_destroy,
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
                noncurrent_expire_days=lake.noncurrent_expire_days,
                expire_days=lake.access_logs_expire_days,
                force_destroy=lake.force_destroy,
                prevent_destroy=props.prevent_destroy,
                extra_policy=(allow_access_log_delivery(logs_name, props.account_id, f"{n.project}-*"),),
            ),
        )
        tiers = (
            Transition(lake.infrequent_access_days, "STANDARD_IA"),
            Transition(lake.glacier_days, "GLACIER"),
        )
        self.raw = bucket("raw", transitions=tiers, expire_days=lake.expire_days)
        self.processed = bucket("processed", transitions=tiers, expire_days=lake.expire_days)
        self.model_artifacts = bucket("model-artifacts", kms_key_arn=props.ml_key.arn)
        self.athena_results = bucket("athena-results", expire_days=lake.athena_results_expire_days)
