"""The sections of one environment's configuration (ARCHITECTURE §2): typed, documented, secure defaults.

Each field's comment is its documentation; the README's configuration reference summarizes them.
"""

import re
import unicodedata
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs.naming import s3_bucket_problems

# Commercial AWS regions (where SageMaker, Kinesis and the rest of the stack are all offered).
AWS_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "af-south-1", "me-south-1", "me-central-1", "il-central-1", "ap-east-1", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
        "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    }
)  # fmt: skip

# The values CloudWatch Logs accepts for retentionInDays (0 = never expire is deliberately left out).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)  # fmt: skip


# API Gateway's cache cluster sizes (GB) and usage-plan quota periods.
CacheSize = Literal["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"]
QuotaPeriod = Literal["DAY", "WEEK", "MONTH"]
CACHE_SIZES: tuple[str, ...] = get_args(CacheSize)
QUOTA_PERIODS: tuple[str, ...] = get_args(QuotaPeriod)

Region = Annotated[str, Field(description="AWS region")]
AccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12-digit AWS account id")]  # ASCII digits only

# Upper bound for day counts where AWS documents none (S3 lifecycle, version expiry): 100 years. The API fields are
# 32-bit integers and the expiry date has to stay a real date, so an unbounded number is never what a reviewer meant.
MAX_DAYS = 36_500


def _tag_value(value: str) -> str:
    """AWS tag values: at most 256 Unicode letters, digits, white space and _ . : / = + - @ (tagging API rules)."""
    if len(value) > 256:
        raise ValueError(f"a tag value has at most 256 characters, got {len(value)}")
    bad = sorted({c for c in value if not (unicodedata.category(c)[0] in "LNZ" or c in "_.:/=+-@")})
    if bad:
        raise ValueError(f"characters AWS refuses in a tag value: {bad}; allowed: letters, digits, spaces and _.:/=+-@")
    return value


TagValue = Annotated[str, Field(min_length=1), AfterValidator(_tag_value)]


class StrictModel(BaseModel):
    # Unknown keys are refused; NaN and infinity are never a valid setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_region(value: str) -> str:
    if value not in AWS_REGIONS:
        raise ValueError(f"'{value}' is not a supported AWS region; allowed: {', '.join(sorted(AWS_REGIONS))}")
    return value


class StateBackendConfig(StrictModel):
    """The bootstrap stack that holds every environment's Terraform state (§3)."""

    region: Region  # region of the state bucket
    account_id: AccountId  # account that owns the state bucket
    noncurrent_version_expire_days: int = Field(90, ge=1, le=MAX_DAYS)  # old state versions are kept this long
    kms_deletion_window_days: int = Field(30, ge=7, le=30)  # waiting period before the state key is deleted

    _region = field_validator("region")(check_region)


class BackendConfig(StrictModel):
    """Where one environment stack keeps its state."""

    mode: Literal["s3", "local"] = "s3"  # "local" only for offline synth, tests and the emulator demo


class KmsConfig(StrictModel):
    deletion_window_days: int = Field(30, ge=7, le=30)  # waiting period before a scheduled key deletion


class LogsConfig(StrictModel):
    retention_days: int = 365  # CloudWatch Logs retention for every log group

    @field_validator("retention_days")
    @classmethod
    def _allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; allowed: {list(LOG_RETENTION_DAYS)}")
        return value


class DataLakeConfig(StrictModel):
    """Lifecycle of the data lake buckets (days)."""

    infrequent_access_days: int = Field(30, ge=30, le=MAX_DAYS)  # S3 requires ≥ 30 days before STANDARD_IA
    glacier_days: int = Field(90, ge=1, le=MAX_DAYS)  # raw/processed objects move to Glacier Flexible Retrieval
    expire_days: int = Field(365, ge=1, le=MAX_DAYS)  # raw/processed objects are deleted
    noncurrent_expire_days: int = Field(90, ge=1, le=MAX_DAYS)  # old object versions are deleted (every bucket)
    athena_results_expire_days: int = Field(30, ge=1, le=MAX_DAYS)  # query results are deleted
    access_logs_expire_days: int = Field(365, ge=1, le=MAX_DAYS)  # server access logs are deleted
    raw_event_prefix: str = Field("incoming/", pattern=r"^[A-Za-z0-9!_.*'()/-]+/$")  # objects here start workflows
    force_destroy: bool = False  # let `destroy` empty buckets (dev/emulator only; refused with protect_stateful)

    @model_validator(mode="after")
    def _ordered(self) -> "DataLakeConfig":
        if not self.infrequent_access_days < self.glacier_days < self.expire_days:
            raise ValueError("need infrequent_access_days < glacier_days < expire_days")
        return self


class DynamoDbConfig(StrictModel):
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    # PROVISIONED only; at most DynamoDB's default per-table quota of 40,000 units
    read_capacity: int | None = Field(None, ge=1, le=40_000)
    write_capacity: int | None = Field(None, ge=1, le=40_000)
    predictions_ttl_days: int = Field(30, ge=1, le=3650)  # predictions expire this many days after they are written

    @model_validator(mode="after")
    def _capacity(self) -> "DynamoDbConfig":
        provisioned = self.billing_mode == "PROVISIONED"
        has_capacity = self.read_capacity is not None and self.write_capacity is not None
        if provisioned and not has_capacity:
            raise ValueError("billing_mode PROVISIONED needs read_capacity and write_capacity")
        if not provisioned and (self.read_capacity or self.write_capacity):
            raise ValueError("read_capacity/write_capacity are only allowed with billing_mode PROVISIONED")
        return self


class KinesisConfig(StrictModel):
    mode: Literal["ON_DEMAND", "PROVISIONED"] = "ON_DEMAND"
    shard_count: int | None = Field(None, ge=1, le=10_000)  # PROVISIONED only (account shard quotas start at 200-500)
    retention_hours: int = Field(24, ge=24, le=8760)

    @model_validator(mode="after")
    def _shards(self) -> "KinesisConfig":
        if self.mode == "PROVISIONED" and self.shard_count is None:
            raise ValueError("mode PROVISIONED needs shard_count")
        if self.mode == "ON_DEMAND" and self.shard_count is not None:
            raise ValueError("shard_count is only allowed with mode PROVISIONED")
        return self


def _s3_url(value: str) -> str:
    """``s3://<bucket>/<key>``: a valid bucket name and a key of 1-1024 UTF-8 bytes without control characters."""
    match = re.fullmatch(r"s3://([^/]*)/(.+)", value, flags=re.DOTALL)
    if not match:
        raise ValueError("must be s3://<bucket>/<key>")
    bucket, key = match.groups()
    problems = s3_bucket_problems(bucket)
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        problems.append("the key is over 1024 bytes")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in key) or key != key.strip():
        problems.append("the key has control characters or surrounding white space")
    if problems:
        raise ValueError(f"'{value}' is not a usable S3 object URL: {'; '.join(problems)}")
    return value


class VariantConfig(StrictModel):
    """One production variant of the SageMaker endpoint (§6)."""

    name: str = Field(pattern=r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,30}$")  # e.g. "A"
    weight: int = Field(ge=0, le=100)  # relative traffic weight (integers: floats come back rounded and dirty plans)
    # s3:// URL of model.tar.gz; unset until a training job has produced one
    model_data_url: Annotated[str, AfterValidator(_s3_url)] | None = None
    image_uri: str | None = None  # inference image; default: the built-in XGBoost image of the region
    instance_type: str = Field("ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")  # ignored when serverless
    initial_instance_count: int = Field(1, ge=1, le=100)
    min_capacity: int = Field(1, ge=1, le=100)  # autoscaling bounds (phase two, instance variants)
    max_capacity: int = Field(2, ge=1, le=100)
    target_invocations_per_instance: int = Field(100, ge=1, le=1_000_000)  # target-tracking set point (per minute)
    serverless_memory_mb: int | None = Field(None, ge=1024, le=6144, multiple_of=1024)  # set → serverless variant
    serverless_max_concurrency: int = Field(5, ge=1, le=200)

    @property
    def has_model(self) -> bool:
        return bool(self.model_data_url) and "PLACEHOLDER" not in (self.model_data_url or "").upper()


class VpcConfig(StrictModel):
    # SageMaker takes 1-16 subnets and 1-5 security groups, each an EC2 id (8 or 17 hex digits).
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]] = Field(
        min_length=1, max_length=16
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")]] = Field(
        min_length=1, max_length=5
    )


class SageMakerConfig(StrictModel):
    network_isolation: bool = True  # containers get no network access
    vpc: VpcConfig | None = None  # run the models inside these subnets
    data_capture_enabled: bool = True
    data_capture_sampling_percent: int = Field(20, ge=1, le=100)
    variants: list[VariantConfig] = Field(
        default_factory=lambda: [VariantConfig(name="A", weight=80), VariantConfig(name="B", weight=20)],
        min_length=1,
        max_length=10,
    )

    @model_validator(mode="after")
    def _weights(self) -> "SageMakerConfig":
        names = [v.name for v in self.variants]
        # Names derived from a variant (models, alarms, scaling policies) are lower-case: "A" and "a" would collide.
        if len({n.lower() for n in names}) != len(names):
            raise ValueError(f"variant names must be unique, ignoring case, got {names}")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("at least one variant needs a weight > 0")
        return self


class FunctionsConfig(StrictModel):
    """Settings shared by the five Lambda functions (§5)."""

    memory_mb: int = Field(512, ge=128, le=10240)
    timeout_seconds: int = Field(30, ge=1, le=900)
    reserved_concurrency: int = Field(10, ge=1, le=1000)  # per function: caps cost and protects the tables
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    feature_count: int = Field(4, ge=1, le=1000)  # numeric features the model takes (validated by the handlers)
    # training metric the evaluate function checks (SageMaker metric names: letters, digits and _ : . - /)
    metric_name: str = Field("validation:auc", pattern=r"^[A-Za-z0-9_:./-]{1,255}$")
    metric_threshold: float = Field(0.8, ge=-1e12, le=1e12)  # a model passes evaluation at or beyond this value
    metric_goal: Literal["maximize", "minimize"] = "maximize"


class StreamConsumerConfig(StrictModel):
    """Kinesis → stream_consumer event source mapping (§5)."""

    batch_size: int = Field(100, ge=1, le=10000)
    batching_window_seconds: int = Field(5, ge=0, le=300)
    max_retry_attempts: int = Field(3, ge=0, le=10000)  # then the batch goes to the on-failure queue
    max_record_age_seconds: int = Field(3600, ge=60, le=604800)
    parallelization_factor: int = Field(1, ge=1, le=10)


class ApiConfig(StrictModel):
    """The REST API in front of the inference function (§5)."""

    # stage and usage-plan steady-state requests per second (at most API Gateway's account limit of 10,000)
    throttle_rate_limit: int = Field(50, ge=1, le=10_000)
    throttle_burst_limit: int = Field(100, ge=1, le=5_000)  # at most API Gateway's account burst of 5,000
    quota_limit: int = Field(100_000, ge=1, le=2**31 - 1)  # requests per API key per quota period (a 32-bit field)
    quota_period: QuotaPeriod = "DAY"
    cache_enabled: bool = False  # stage cache for GET /predict (keyed by the query string)
    cache_size_gb: CacheSize = "0.5"
    cache_ttl_seconds: int = Field(300, ge=0, le=3600)
    waf_enabled: bool = False  # WAF web ACL (managed rules + per-IP rate limit); on in prod
    waf_rate_limit: int = Field(2000, ge=100, le=2_000_000_000)  # requests per 5 minutes per client IP
    manage_account_logging_role: bool = True  # the account-wide API Gateway → CloudWatch Logs role (one per region)


class AlarmsConfig(StrictModel):
    """Alarm thresholds (§6, §7)."""

    # Upper bounds: what the measured thing can reach (an invocation times out at 60 s, API Gateway at 29 s, a
    # record lives at most 7 days in the stream); a threshold beyond them could never fire.
    model_latency_p99_ms: int = Field(1000, ge=1, le=60_000)  # per variant, phase two
    variant_5xx_errors: int = Field(5, ge=1, le=1_000_000)  # per variant per 5 minutes, phase two
    api_5xx_errors: int = Field(5, ge=1, le=1_000_000)  # per 5 minutes
    api_latency_p99_ms: int = Field(2000, ge=1, le=29_000)
    function_errors: int = Field(1, ge=1, le=1_000_000)  # per function per 5 minutes
    iterator_age_ms: int = Field(60_000, ge=1000, le=604_800_000)  # Kinesis consumer falling behind
    data_drift: float = Field(3.0, gt=0, le=1_000)  # DataDrift metric (standard deviations)
