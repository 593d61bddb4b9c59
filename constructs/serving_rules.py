"""Model serving's settings and rules (ARCHITECTURE §6): the knobs of the variants (:class:`SageMakerSettings`),
which image a variant runs, which instance types and feature combinations SageMaker accepts, the endpoint's name and
ARN (:func:`endpoint_ref`), and :func:`validate_serving`, which reports every problem of one environment's serving
settings (given the phase flag, also a variant without a trained model in phase two).

Plain models and rules, no resources: the environment configuration embeds :class:`SageMakerSettings` and checks
:func:`validate_serving` when it is loaded, and :class:`constructs.model_serving.ModelServing` checks it again before
it builds anything.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated

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


def _phase_two_problems(env: str, sagemaker: SageMakerSettings) -> list[str]:
    """Phase two serves real models only: a placeholder (or missing) model is refused."""
    missing = [v.name for v in sagemaker.variants if not v.has_model]
    if not missing:
        return []
    return [
        f"environment '{env}', field 'endpoints_enabled': phase two needs a trained model for every "
        f"variant; sagemaker.variants {missing} have no model_data_url (or a placeholder)"
    ]
