"""Model serving's settings and rules (ARCHITECTURE §6): the knobs of the variants (:class:`SageMakerSettings`) and of
the safe rollout of a new model or endpoint config (:class:`RolloutSettings`), which image a variant runs, which
instance types and feature combinations SageMaker accepts, the endpoint's name and ARN (:func:`endpoint_ref`), and
:func:`validate_serving`, which reports every problem of one environment's serving settings (given the phase flag,
also a variant without a trained model in phase two).

Plain models and rules, no resources: the environment configuration embeds :class:`SageMakerSettings` and checks
:func:`validate_serving` when it is loaded, and :class:`constructs.model_serving.ModelServing` checks it again before
it builds anything.
"""

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from constructs.naming import Kind, Naming, NamingError, s3_bucket_problems
from constructs.refs import Deployment
from constructs.settings import Settings


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
        raise ValueError(f"not a usable S3 object URL: {'; '.join(problems)}")
    return value


class VariantSettings(Settings):
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


class VpcSettings(Settings):
    # SageMaker takes 1-16 subnets and 1-5 security groups, each an EC2 id (8 or 17 hex digits).
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]] = Field(
        min_length=1, max_length=16
    )
    security_group_ids: list[Annotated[str, Field(pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")]] = Field(
        min_length=1, max_length=5
    )


# SageMaker deployment guardrails (phase two): how an UpdateEndpoint onto a new endpoint config shifts traffic from the
# old (blue) fleet to the new (green) one, and which alarms roll it back. Sources are SageMaker documentation titles.
RolloutMode = Literal["canary", "linear", "all_at_once", "none"]
# Traffic routing type per guarded mode (TrafficRoutingConfig.Type: ALL_AT_ONCE | CANARY | LINEAR).
TRAFFIC_ROUTING_TYPES: dict[str, str] = {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}
# Each variant rolls back on its p99-latency and 5XX alarms (constructs.serving_endpoint.variant_alarm_specs).
ROLLBACK_ALARMS_PER_VARIANT = 2
# AutoRollbackConfig.Alarms: "Minimum number of 1 item. Maximum number of 10 items." (API reference,
# AutoRollbackConfig); the provider's alarms set has max_items 10 too.
MAX_ROLLBACK_ALARMS = 10
# The slowest variant alarm (5XX: one 300 s period) needs this long to see a breach; a shorter baking period moves
# traffic on before a rollback alarm can go off (constructs.serving_endpoint.variant_alarm_specs).
ROLLBACK_ALARM_DETECTION_SECONDS = 300


class RolloutSettings(Settings):
    """How phase two rolls a new model or endpoint config onto the endpoint (§6): a blue/green deployment with traffic
    shifting, baking periods and automatic rollback on the variant alarms (SageMaker deployment guardrails).

    ``canary``: ``canary_percent`` of each variant's new fleet takes traffic for one baking period, then the rest.
    ``linear``: steps of ``linear_step_percent``, each followed by a baking period. ``all_at_once``: every request moves
    at once, then one baking period. ``none``: no deployment config, SageMaker's default (blue/green, all at once, no
    baking period, no rollback); the only mode for a serverless variant.
    """

    mode: RolloutMode = "canary"
    # Sizes are CAPACITY_PERCENT of each variant's instance count, so one setting fits variants of any size.
    # CanarySize: "Value must be less than or equal to 50% of the variant's total instance count"; CapacitySize.Value:
    # "Minimum value of 1" (API reference, TrafficRoutingConfig and CapacitySize).
    canary_percent: int = Field(10, ge=1, le=50)
    # LinearStepSize: "Value must be 10-50% of the variant's total instance count" (API reference,
    # TrafficRoutingConfig).
    linear_step_percent: int = Field(20, ge=10, le=50)
    # Baking period after each traffic step, while the rollback alarms watch. WaitIntervalInSeconds: "Valid Range:
    # Minimum value of 0. Maximum value of 3600." (API reference, TrafficRoutingConfig).
    wait_seconds: int = Field(300, ge=0, le=3600)
    # The whole deployment times out (and rolls back) after this. MaximumExecutionTimeoutInSeconds: 600-28800 (API
    # reference, BlueGreenUpdatePolicy); the provider (hashicorp/aws 5.100.0) validates 600-14400, the stricter bound.
    max_execution_timeout_seconds: int = Field(3600, ge=600, le=14400)
    # The old fleet keeps running this long after the deployment completes. TerminationWaitInSeconds: "Default is 0",
    # 0-3600 (API reference, BlueGreenUpdatePolicy). 0: no extra cost; the final baking period already watches.
    termination_wait_seconds: int = Field(0, ge=0, le=3600)
    # Roll back when a variant's latency or 5XX alarm goes off during a baking period (AutoRollbackConfig). The
    # provider replaces the endpoint when this block appears or disappears: changing it costs an outage.
    auto_rollback: bool = True

    @property
    def guarded(self) -> bool:
        """True when the endpoint gets a deployment config (every mode but ``none``)."""
        return self.mode != "none"

    @property
    def baking_periods(self) -> int:
        """Baking periods of one deployment: canary and final; one per linear step; the final one only."""
        if self.mode == "canary":
            return 2
        if self.mode == "linear":
            return math.ceil(100 / self.linear_step_percent)
        return 1 if self.mode == "all_at_once" else 0

    @property
    def total_wait_seconds(self) -> int:
        """The deployment's waiting time: every baking period plus the wait before the old fleet is terminated."""
        return self.baking_periods * self.wait_seconds + self.termination_wait_seconds


# The settings each mode reads; another setting given explicitly for that mode is a mistake, not a silent no-op.
_ROLLOUT_FIELDS: dict[str, tuple[str, ...]] = {
    "canary": ("canary_percent", "wait_seconds", "max_execution_timeout_seconds", "termination_wait_seconds",
               "auto_rollback"),
    "linear": ("linear_step_percent", "wait_seconds", "max_execution_timeout_seconds", "termination_wait_seconds",
               "auto_rollback"),
    "all_at_once": ("wait_seconds", "max_execution_timeout_seconds", "termination_wait_seconds", "auto_rollback"),
    "none": (),
}  # fmt: skip


class SageMakerSettings(Settings):
    network_isolation: bool = True  # containers get no network access
    # Phase two registers each instance variant with Application Auto Scaling (target + target-tracking policy).
    # SageMaker refuses an UpdateEndpoint that changes the instance type of, or removes, a variant registered for auto
    # scaling (SageMaker Developer Guide, "Update endpoints that use auto scaling"); a model change alone is allowed.
    # Safe sequence for such a change: set false -> apply (policies and scalable targets are deregistered) -> change
    # instance types / variants -> apply -> set true -> apply (registered again). False: no autoscaling resources.
    autoscaling_enabled: bool = True
    vpc: VpcSettings | None = None  # run the models inside these subnets
    data_capture_enabled: bool = True
    data_capture_sampling_percent: int = Field(20, ge=1, le=100)
    variants: list[VariantSettings] = Field(
        default_factory=lambda: [VariantSettings(name="A", weight=80), VariantSettings(name="B", weight=20)],
        min_length=1,
        max_length=10,
    )
    rollout: RolloutSettings = RolloutSettings()  # phase two: how a new model or endpoint config goes live

    @model_validator(mode="after")
    def _weights(self) -> "SageMakerSettings":
        names = [v.name for v in self.variants]
        # Names derived from a variant (models, alarms, scaling policies) are lower-case: "A" and "a" would collide.
        if len({n.lower() for n in names}) != len(names):
            raise ValueError(f"variant names must be unique, ignoring case, got {names}")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("at least one variant needs a weight > 0")
        return self


XGBOOST_VERSION = "1.7-1"
# Account of the built-in SageMaker XGBoost image per region (``sagemaker-xgboost`` repository, version 1.7-1), from
# the SageMaker Python SDK's image_uri_config/xgboost.json. A region missing here needs an explicit image_uri.
_XGBOOST_ACCOUNTS = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
XGBOOST_IMAGES: dict[str, str] = {
    region: f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{XGBOOST_VERSION}"
    for region, account in _XGBOOST_ACCOUNTS.items()
}

# <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag | @digest]
_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})?"
)

# Instance families with local NVMe instance storage, where SageMaker refuses a volume KMS key: the "d" families
# (m5d, c5d, r5d, m6id, c6gd, g4dn, p3dn, p4d, ...) and the GPU/accelerator families whose storage is always local.
_NVME_FAMILY = re.compile(r"[a-z]+\d+[a-z]*d[a-z]*")
_NVME_FAMILIES = frozenset({"g5", "g6", "g6e", "p5", "p5e", "p5en", "trn1", "trn1n"})

# Fields that only mean something for instance variants (a serverless variant scales by itself).
_INSTANCE_ONLY = ("instance_type", "initial_instance_count", "min_capacity", "max_capacity",
                  "target_invocations_per_instance")  # fmt: skip


def image_for(region: str, variant: VariantSettings) -> str:
    """The variant's inference image: its explicit ``image_uri``, else the region's built-in XGBoost image."""
    if variant.image_uri:
        return variant.image_uri
    if region not in XGBOOST_IMAGES:
        raise ValueError(
            f"variant '{variant.name}': region '{region}' has no built-in XGBoost image; set image_uri "
            f"(regions with a built-in image: {', '.join(sorted(XGBOOST_IMAGES))})"
        )
    return XGBOOST_IMAGES[region]


def has_local_nvme(instance_type: str) -> bool:
    """True for instance types (``ml.<family>.<size>``) whose storage is local NVMe."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 else ""
    return family in _NVME_FAMILIES or bool(_NVME_FAMILY.fullmatch(family))


def is_serverless(variant: VariantSettings) -> bool:
    return variant.serverless_memory_mb is not None


def ecr_repository_arn(image_uri: str) -> str | None:
    """``arn:aws:ecr:<region>:<account>:repository/<name>`` of an ECR image URI; None if it is not one."""
    match = _ECR_IMAGE.fullmatch(image_uri)
    if not match:
        return None
    return f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def model_component(variant_name: str, digest: str) -> str:
    """Naming component of a variant's model: ``model-<variant>-<hash8>``."""
    return f"model-{variant_name.lower()}-{digest}"


@dataclass(frozen=True)
class EndpointRef:
    """The environment's SageMaker endpoint: known in both phases, created only in phase two."""

    name: str
    arn: str


def endpoint_ref(deployment: Deployment) -> EndpointRef:
    """The endpoint's name and ARN, from the deployment alone: the stack wires them into the inference function and
    dashboards before the endpoint exists (phase one), and :class:`constructs.model_serving.ModelServing` names its
    endpoint with the same function."""
    name = deployment.naming.name("endpoint", Kind.SAGEMAKER)
    # Naming lower-cases every name, so the ARN is lower-case as SageMaker reports it.
    arn = f"arn:{deployment.partition}:sagemaker:{deployment.region}:{deployment.account_id}:endpoint/{name}"
    return EndpointRef(name=name, arn=arn)


Problem = tuple[str, str]  # (field path under "sagemaker.", message)


def validate_serving(
    env: str,
    region: str,
    sagemaker: SageMakerSettings,
    naming: Naming | None = None,
    endpoints_enabled: bool = False,
) -> list[str]:
    """Every problem of the serving config, each naming the environment and the field to change.

    ``naming`` (optional) also checks that each variant's model name fits SageMaker's 63-character limit;
    ``endpoints_enabled`` (optional, the phase flag) also checks that phase two has a trained model for every variant.
    """
    found: list[Problem] = []
    for i, variant in enumerate(sagemaker.variants):
        at = f"variants.{i}"
        found += image_problems(f"{at}.image_uri", region, variant.image_uri)
        if naming is not None:
            found += _model_name_problems(at, naming, variant)
        found += (
            _serverless_variant_problems(at, variant) if is_serverless(variant) else _instance_problems(at, variant)
        )
    found += _serverless_problems(sagemaker)
    found += _rollout_problems(sagemaker)
    problems = [f"environment '{env}', field 'sagemaker.{path}': {message}" for path, message in found]
    if endpoints_enabled:
        problems += _phase_two_problems(env, sagemaker)
    return problems


def image_problems(at: str, region: str, image_uri: str | None) -> list[Problem]:
    """An image (a model's or a training job's; None = the built-in XGBoost image) that SageMaker can pull: in ECR
    (the only registry an execution role can be granted) and in the environment's region. ``at`` names the field."""
    if image_uri is None:
        if region in XGBOOST_IMAGES:
            return []
        return [
            (
                at,
                f"region '{region}' has no built-in XGBoost image; set image_uri explicitly "
                f"(regions with a built-in image: {', '.join(sorted(XGBOOST_IMAGES))})",
            )
        ]
    image = _ECR_IMAGE.fullmatch(image_uri)
    if image is None:
        return [
            (
                at,
                f"'{image_uri}' is not an ECR image URI "
                "('<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]'); the execution role can "
                "only be granted pulls from ECR repositories",
            )
        ]
    if image["region"] != region:
        return [
            (
                at,
                f"the image is in region '{image['region']}' but the environment deploys to '{region}'; SageMaker "
                "pulls model images only from ECR in the endpoint's own region",
            )
        ]
    return []


def _model_name_problems(at: str, naming: Naming, variant: VariantSettings) -> list[Problem]:
    """The variant's model name (which carries the variant name) fits SageMaker's naming rule."""
    try:
        naming.name(model_component(variant.name, "0" * 8), Kind.SAGEMAKER)
    except NamingError as error:
        return [(f"{at}.name", f"{error.detail} (a shorter variant name also shortens the model name)")]
    return []


def _serverless_variant_problems(at: str, variant: VariantSettings) -> list[Problem]:
    """A serverless variant sets none of the instance and autoscaling fields."""
    return [
        (
            f"{at}.{key}",
            "not allowed on a serverless variant (serverless_memory_mb is set): instance type and "
            "autoscaling apply to instance variants only",
        )
        for key in _INSTANCE_ONLY
        if key in variant.model_fields_set
    ]


def _instance_problems(at: str, variant: VariantSettings) -> list[Problem]:
    """An instance variant has an EBS-backed instance type and consistent capacity bounds."""
    problems: list[Problem] = []
    if has_local_nvme(variant.instance_type):
        problems.append(
            (
                f"{at}.instance_type",
                f"'{variant.instance_type}' has local NVMe instance storage, and SageMaker refuses a volume KMS key "
                "for such instances (CreateEndpointConfig fails) while every endpoint config here is encrypted with "
                "the ML key; choose an EBS-backed instance type such as ml.m5.large",
            )
        )
    if variant.min_capacity > variant.max_capacity:
        problems.append(
            (
                f"{at}.min_capacity",
                f"min_capacity ({variant.min_capacity}) must not exceed max_capacity ({variant.max_capacity})",
            )
        )
    elif not variant.min_capacity <= variant.initial_instance_count <= variant.max_capacity:
        problems.append(
            (
                f"{at}.initial_instance_count",
                f"must lie between min_capacity ({variant.min_capacity}) and max_capacity ({variant.max_capacity}), "
                f"got {variant.initial_instance_count}",
            )
        )
    return problems


def _serverless_problems(sagemaker: SageMakerSettings) -> list[Problem]:
    """Features SageMaker Serverless Inference does not offer."""
    serverless = [i for i, v in enumerate(sagemaker.variants) if is_serverless(v)]
    if not serverless:
        return []
    problems: list[Problem] = []
    if len(sagemaker.variants) > 1:
        problems.append(
            (
                f"variants.{serverless[0]}.serverless_memory_mb",
                "a serverless variant must be the endpoint's only variant (Serverless Inference supports a single "
                "production variant)",
            )
        )
    unsupported = {
        "network_isolation": sagemaker.network_isolation,
        "vpc": sagemaker.vpc is not None,
        "data_capture_enabled": sagemaker.data_capture_enabled,
    }
    message = "Serverless Inference does not support it; turn it off for a serverless variant"
    problems += [(key, message) for key, used in unsupported.items() if used]
    return problems


def _rollout_problems(sagemaker: SageMakerSettings) -> list[Problem]:
    """A rollout SageMaker can run on these variants, with a timeout and baking periods that let it finish and roll
    back."""
    rollout = sagemaker.rollout
    problems: list[Problem] = [
        (
            f"rollout.{key}",
            f"has no effect with rollout.mode '{rollout.mode}'; remove it or choose the mode it belongs to",
        )
        for key in RolloutSettings.model_fields
        if key != "mode" and key in rollout.model_fields_set and key not in _ROLLOUT_FIELDS[rollout.mode]
    ]
    if not rollout.guarded:
        return problems
    serverless = [v.name for v in sagemaker.variants if is_serverless(v)]
    if serverless:
        # "Deployment guardrails only apply to Asynchronous inference and Real-time inference endpoint types."
        # (Deployment guardrails for updating models in production); canary and linear sizes are shares of an
        # instance count, which a serverless variant does not have.
        problems.append(
            (
                "rollout.mode",
                f"'{rollout.mode}' needs SageMaker deployment guardrails (traffic shifting, baking periods, "
                f"auto-rollback), which Serverless Inference does not support (variant {serverless[0]} is serverless); "
                "set rollout.mode to 'none' for a serverless endpoint",
            )
        )
    inf1 = [v.name for v in sagemaker.variants if not is_serverless(v) and v.instance_type.startswith("ml.inf1.")]
    if inf1:
        # Endpoints on Inf1 instances "fall back to using a blue/green deployment with all at once traffic shifting
        # and no final baking period" (Deployment guardrails, Exclusions): the configured rollout would silently not
        # apply.
        problems.append(
            (
                "rollout.mode",
                f"'{rollout.mode}' is ignored by SageMaker for endpoints on Inf1 instances (variant {inf1[0]}), which "
                "fall back to all-at-once traffic shifting without baking period or rollback; set rollout.mode to "
                "'none' or choose another instance type",
            )
        )
    # "the timeout value should be larger than the total waiting time specified in TerminationWaitInSeconds and
    # WaitIntervalInSeconds" (API reference, BlueGreenUpdatePolicy): the waiting time of every baking period.
    if rollout.max_execution_timeout_seconds <= rollout.total_wait_seconds:
        problems.append(
            (
                "rollout.max_execution_timeout_seconds",
                f"must exceed the deployment's total waiting time of {rollout.total_wait_seconds} s "
                f"({rollout.baking_periods} baking period(s) of wait_seconds {rollout.wait_seconds} + "
                f"termination_wait_seconds {rollout.termination_wait_seconds}), or every deployment times out and "
                f"rolls back; got {rollout.max_execution_timeout_seconds}",
            )
        )
    if not rollout.auto_rollback:
        return problems
    if rollout.wait_seconds < ROLLBACK_ALARM_DETECTION_SECONDS:
        problems.append(
            (
                "rollout.wait_seconds",
                f"a baking period of {rollout.wait_seconds} s ends before the variant alarms can go off (the 5XX "
                f"alarm needs {ROLLBACK_ALARM_DETECTION_SECONDS} s), so auto_rollback could never trigger; use at "
                f"least {ROLLBACK_ALARM_DETECTION_SECONDS} or set auto_rollback to false",
            )
        )
    alarms = ROLLBACK_ALARMS_PER_VARIANT * len(sagemaker.variants)
    if alarms > MAX_ROLLBACK_ALARMS:
        problems.append(
            (
                "rollout.auto_rollback",
                f"{len(sagemaker.variants)} variants have {alarms} rollback alarms ({ROLLBACK_ALARMS_PER_VARIANT} "
                f"each) and SageMaker takes at most {MAX_ROLLBACK_ALARMS} (AutoRollbackConfig); use at most "
                f"{MAX_ROLLBACK_ALARMS // ROLLBACK_ALARMS_PER_VARIANT} variants or set auto_rollback to false",
            )
        )
    return problems


def _phase_two_problems(env: str, sagemaker: SageMakerSettings) -> list[str]:
    """Phase two serves real models only: a placeholder (or missing) model is refused."""
    missing = [v.name for v in sagemaker.variants if not v.has_model]
    if not missing:
        return []
    return [
        f"environment '{env}', field 'endpoints_enabled': phase two needs a trained model for every "
        f"variant; sagemaker.variants {missing} have no model_data_url (or a placeholder)"
    ]
