"""Serving config rules (ARCHITECTURE §6): which image a variant runs, which instance types and feature combinations
SageMaker accepts, and :func:`validate_serving`, which reports every problem of one environment's serving config
(given the phase flag, also a variant without a trained model in phase two).

Plain rules, no resources: ``stacks/config.py`` checks them when the config is loaded, and
:class:`constructs.model_serving.ModelServing` checks them again before it builds anything.
"""

import re

from constructs.naming import Kind, Naming, NamingError
from stacks.config_sections import SageMakerConfig, VariantConfig

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


def image_for(region: str, variant: VariantConfig) -> str:
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


def is_serverless(variant: VariantConfig) -> bool:
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


def validate_serving(
    env: str,
    region: str,
    sagemaker: SageMakerConfig,
    naming: Naming | None = None,
    endpoints_enabled: bool = False,
) -> list[str]:
    """Every problem of the serving config, each naming the environment and the field to change.

    ``naming`` (optional) also checks that each variant's model name fits SageMaker's 63-character limit;
    ``endpoints_enabled`` (optional, the phase flag) also checks that phase two has a trained model for every variant.
    """
    problems: list[str] = []

    def problem(path: str, message: str) -> None:
        problems.append(f"environment '{env}', field 'sagemaker.{path}': {message}")

    serverless = [i for i, v in enumerate(sagemaker.variants) if is_serverless(v)]
    for i, variant in enumerate(sagemaker.variants):
        at = f"variants.{i}"
        if variant.image_uri is None and region not in XGBOOST_IMAGES:
            problem(
                f"{at}.image_uri",
                f"region '{region}' has no built-in XGBoost image; set image_uri explicitly "
                f"(regions with a built-in image: {', '.join(sorted(XGBOOST_IMAGES))})",
            )
        image = _ECR_IMAGE.fullmatch(variant.image_uri) if variant.image_uri is not None else None
        if variant.image_uri is not None and image is None:
            problem(
                f"{at}.image_uri",
                f"'{variant.image_uri}' is not an ECR image URI "
                "('<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]'); the execution role can "
                "only be granted pulls from ECR repositories",
            )
        elif image is not None and image["region"] != region:
            problem(
                f"{at}.image_uri",
                f"the image is in region '{image['region']}' but the environment deploys to '{region}'; SageMaker "
                "pulls model images only from ECR in the endpoint's own region",
            )
        if naming is not None:
            try:
                naming.name(model_component(variant.name, "0" * 8), Kind.SAGEMAKER)
            except NamingError as error:
                problem(f"{at}.name", f"{error.detail} (a shorter variant name also shortens the model name)")
        if i in serverless:
            for key in _INSTANCE_ONLY:
                if key in variant.model_fields_set:
                    problem(
                        f"{at}.{key}",
                        "not allowed on a serverless variant (serverless_memory_mb is set): instance type and "
                        "autoscaling apply to instance variants only",
                    )
            continue
        if has_local_nvme(variant.instance_type):
            problem(
                f"{at}.instance_type",
                f"'{variant.instance_type}' has local NVMe instance storage, and SageMaker refuses a volume KMS key "
                "for such instances (CreateEndpointConfig fails) while every endpoint config here is encrypted with "
                "the ML key; choose an EBS-backed instance type such as ml.m5.large",
            )
        if variant.min_capacity > variant.max_capacity:
            problem(
                f"{at}.min_capacity",
                f"min_capacity ({variant.min_capacity}) must not exceed max_capacity ({variant.max_capacity})",
            )
        elif not variant.min_capacity <= variant.initial_instance_count <= variant.max_capacity:
            problem(
                f"{at}.initial_instance_count",
                f"must lie between min_capacity ({variant.min_capacity}) and max_capacity ({variant.max_capacity}), "
                f"got {variant.initial_instance_count}",
            )

    # Features SageMaker Serverless Inference does not offer.
    if serverless:
        if len(sagemaker.variants) > 1:
            problem(
                f"variants.{serverless[0]}.serverless_memory_mb",
                "a serverless variant must be the endpoint's only variant (Serverless Inference supports a single "
                "production variant)",
            )
        unsupported = {
            "network_isolation": sagemaker.network_isolation,
            "vpc": sagemaker.vpc is not None,
            "data_capture_enabled": sagemaker.data_capture_enabled,
        }
        for key, used in unsupported.items():
            if used:
                problem(key, "Serverless Inference does not support it; turn it off for a serverless variant")

    if endpoints_enabled:
        missing = [v.name for v in sagemaker.variants if not v.has_model]
        if missing:
            problems.append(
                f"environment '{env}', field 'endpoints_enabled': phase two needs a trained model for every "
                f"variant; sagemaker.variants {missing} have no model_data_url (or a placeholder)"
            )
    return problems
