"""SageMaker model serving and the phase flag (ARCHITECTURE §6).

Phase one (``endpoints_enabled = false``): the execution role (:mod:`constructs.serving_role`), one model per variant,
the endpoint config and the endpoint's log group. Phase two (:mod:`constructs.serving_endpoint`) adds the endpoint,
per-variant autoscaling (instance variants) and per-variant alarms wired to the alerts topic and the traffic-shift
function. Flipping the flag is *additive*: nothing built in phase one reads the flag, so the phase-two plan only
creates resources.

Secure defaults: models run with network isolation; the endpoint's storage volumes and captured data are encrypted
with the ML key; the execution role reads only model artifacts, writes only data capture, pulls only the images it
serves and writes only SageMaker log groups.

Models and endpoint configs cannot be updated in place. Their names derive from their content, and they are created
before the old ones are destroyed, so a model change rolls the endpoint onto a new config instead of failing with
"already exists".

The knobs and their rules are in :mod:`constructs.serving_rules` (:class:`SageMakerSettings`); the props carry wiring.
"""

from dataclasses import dataclass, field
from typing import Any

from cdktf import DefaultTokenResolver, StringConcat, TerraformResourceLifecycle, Token, Tokenization

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.naming import Kind, content_digest
from constructs.refs import BucketRef, Deployment, FunctionRef, KeyRef, TopicRef
from constructs.serving_endpoint import EndpointWiring, ServingEndpoint, variant_alarm_specs
from constructs.serving_role import DATA_CAPTURE_PREFIX, ExecutionRole, RoleGrants
from constructs.serving_rules import (
    SageMakerSettings,
    VariantSettings,
    endpoint_ref,
    image_for,
    is_serverless,
    model_component,
    validate_serving,
)

# A valid, empty model.tar.gz (gzip, mtime 0, of an empty tar). SageMaker's CreateModel checks that the model data
# object exists, so phase one -- before any training job has produced a model -- uploads this to the placeholder key.
PLACEHOLDER_MODEL_BASE64 = "H4sIAAAAAAACA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAAAIA3A5reHScAKAAA"
PLACEHOLDER_PREFIX = "models/PLACEHOLDER"
# Content types data capture records as text; SageMaker base64-encodes a payload of any other type. The inference path
# sends text/csv rows and accepts application/json answers (lambda_src/mlp_common/model.py). SageMaker takes 1-10 of
# each, matching [a-zA-Z0-9](-*[a-zA-Z0-9])*/[a-zA-Z0-9](-*[a-zA-Z0-9.])* (API reference: CaptureContentTypeHeader).
CAPTURE_CSV_CONTENT_TYPES = ("text/csv",)
CAPTURE_JSON_CONTENT_TYPES = ("application/json",)


@dataclass(frozen=True)
class ModelServingProps:
    """What model serving is wired to; its knobs are ``settings`` (plus the shared alarm thresholds and logs)."""

    deployment: Deployment  # naming; account (role trust, ARNs) and region (built-in image, ARNs)
    ml_key: KeyRef  # encrypts endpoint storage volumes, captured data and placeholders; the artifacts bucket's key
    ops_key: KeyRef  # encrypts the endpoint's log group
    artifacts_bucket: BucketRef  # model-artifacts bucket: models/ is read, data-capture/ is written
    alerts_topic: TopicRef  # per-variant alarms notify this topic (phase two)
    traffic_shift_function: FunctionRef  # per-variant alarms invoke this function (phase two)
    endpoints_enabled: bool  # the phase flag: False = models and endpoint config only
    settings: SageMakerSettings  # variants, network isolation, VPC, data capture
    alarms: AlarmsSettings = field(default_factory=AlarmsSettings)  # latency and 5XX thresholds of the variant alarms
    logs: LogsSettings = field(default_factory=LogsSettings)  # retention of the endpoint's log group


class ModelServing(Construct):
    """Exposes ``execution_role``, ``models`` (variant name -> SagemakerModel), ``endpoint_config``,
    ``endpoint_config_name``, ``endpoint_ref`` (and its ``endpoint_name``, ``endpoint_arn``), ``endpoint`` (None in
    phase one), ``log_group``, ``scaling_targets``, ``scaling_policies`` and ``alarms`` (empty in phase one)."""

    def __init__(self, scope: Construct, id: str, props: ModelServingProps) -> None:
        super().__init__(scope, id)
        deployment, settings = props.deployment, props.settings
        naming = deployment.naming
        problems = validate_serving(naming.env, deployment.region, settings, naming, props.endpoints_enabled)
        if problems:
            raise ValueError("model serving:\n  " + "\n  ".join(problems))
        self._props = props
        self.images = {v.name: image_for(deployment.region, v) for v in settings.variants}
        self.model_data_urls = {v.name: self._model_data_url(v) for v in settings.variants}

        # Known in both phases (the inference function and dashboards need it before the endpoint exists).
        self.endpoint_ref = endpoint_ref(deployment)
        self.endpoint_name = self.endpoint_ref.name
        self.endpoint_arn = self.endpoint_ref.arn

        # --- phase one: nothing below reads endpoints_enabled --------------------------------------------------------
        self._build_role()
        self._build_placeholders()
        self._build_models()
        self._build_endpoint_config()
        self._build_log_group()

        # --- phase two: only additions -------------------------------------------------------------------------------
        self.endpoint: Any = None
        self.scaling_targets: dict[str, Any] = {}
        self.scaling_policies: dict[str, Any] = {}
        self.alarms: dict[str, Any] = {}
        if props.endpoints_enabled:
            phase_two = ServingEndpoint(
                self,
                EndpointWiring(
                    deployment=deployment,
                    endpoint_name=self.endpoint_name,
                    endpoint_config_name=self.endpoint_config.name,
                    log_group=self.log_group,
                    alerts_topic=props.alerts_topic,
                    traffic_shift_function=props.traffic_shift_function,
                ),
                settings.variants,
                props.alarms,
                autoscaling=settings.autoscaling_enabled,
                rollout=settings.rollout,
            )
            self.endpoint = phase_two.endpoint
            self.scaling_targets = phase_two.scaling_targets
            self.scaling_policies = phase_two.scaling_policies
            self.alarms = phase_two.alarms
        # The variant alarms' specs, for the dashboard (the alarms themselves are built above: they also drain).
        self.alarm_specs: list[AlarmSpec] = (
            [
                spec
                for variant in settings.variants
                for spec in variant_alarm_specs(self.endpoint_name, variant.name, props.alarms).values()
            ]
            if props.endpoints_enabled
            else []
        )

    # --- build: phase one --------------------------------------------------------------------------------------------

    def _model_data_url(self, variant: VariantSettings) -> str:
        if variant.model_data_url:
            return variant.model_data_url
        return f"s3://{self._props.artifacts_bucket.name}/{PLACEHOLDER_PREFIX}/{variant.name}/model.tar.gz"

    def _plain(self, value: Any) -> Any:
        """A token as its Terraform expression (stable across synths), so it can be part of a content hash."""
        if isinstance(value, str) and Token.is_unresolved(value):
            return Tokenization.resolve(
                value, scope=self, preparing=False, resolver=DefaultTokenResolver(StringConcat())
            )
        return value

    def _build_role(self) -> None:
        props = self._props
        grants = RoleGrants(
            artifacts_bucket=props.artifacts_bucket,
            ml_key=props.ml_key,
            model_data_urls=list(self.model_data_urls.values()),
            images=list(self.images.values()),
            vpc=props.settings.vpc,
        )
        role = ExecutionRole(self, props.deployment, grants)
        self.role_name = role.name
        self.execution_role = role.role
        self.execution_role_policy = role.policy

    def _build_placeholders(self) -> None:
        """An empty model.tar.gz for each variant without a trained model (phase one only: phase two refuses them)."""
        props = self._props
        self.placeholders: dict[str, Any] = {}
        for variant in props.settings.variants:
            if variant.model_data_url:
                continue
            self.placeholders[variant.name] = aws.s3_object.S3Object(
                self,
                f"placeholder-{variant.name}",
                bucket=props.artifacts_bucket.name,
                key=f"{PLACEHOLDER_PREFIX}/{variant.name}/model.tar.gz",
                content_base64=PLACEHOLDER_MODEL_BASE64,
                content_type="application/gzip",
                server_side_encryption="aws:kms",
                kms_key_id=props.ml_key.arn,
                bucket_key_enabled=True,
            )

    def _build_models(self) -> None:
        props = self._props
        config = props.settings
        mdl = aws.sagemaker_model
        vpc = config.vpc
        self.models: dict[str, Any] = {}
        self.model_names: dict[str, str] = {}
        for variant in config.variants:
            content = {
                "variant": variant.name,
                "image": self.images[variant.name],
                "model_data_url": self._plain(self.model_data_urls[variant.name]),
                "network_isolation": config.network_isolation,
                "vpc": vpc.model_dump() if vpc else None,
                "role": self.role_name,
            }
            name = props.deployment.naming.name(
                model_component(variant.name, content_digest(content, 8)), Kind.SAGEMAKER
            )
            depends_on: list[Any] = [self.execution_role_policy]  # CreateModel checks the role can read the data
            if variant.name in self.placeholders:
                depends_on.append(self.placeholders[variant.name])
            self.model_names[variant.name] = name
            self.models[variant.name] = mdl.SagemakerModel(
                self,
                f"model-{variant.name}",
                name=name,
                execution_role_arn=self.execution_role.arn,
                enable_network_isolation=config.network_isolation,
                primary_container=mdl.SagemakerModelPrimaryContainer(
                    image=self.images[variant.name],
                    model_data_url=self.model_data_urls[variant.name],
                    mode="SingleModel",
                ),
                vpc_config=mdl.SagemakerModelVpcConfig(
                    subnets=sorted(vpc.subnet_ids), security_group_ids=sorted(vpc.security_group_ids)
                )
                if vpc
                else None,
                lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
                depends_on=depends_on,
            )

    def _build_endpoint_config(self) -> None:
        props = self._props
        config = props.settings
        epc = aws.sagemaker_endpoint_configuration
        variants, content_variants = [], []
        for variant in config.variants:
            settings: dict[str, Any] = {"variant_name": variant.name, "initial_variant_weight": variant.weight}
            if is_serverless(variant):
                settings["serverless_config"] = {
                    "max_concurrency": variant.serverless_max_concurrency,
                    "memory_size_in_mb": variant.serverless_memory_mb,
                }
            else:
                settings["instance_type"] = variant.instance_type
                settings["initial_instance_count"] = variant.initial_instance_count
            content_variants.append({**settings, "model_name": self.model_names[variant.name]})
            serverless = settings.pop("serverless_config", None)
            variants.append(
                epc.SagemakerEndpointConfigurationProductionVariants(
                    **settings,
                    model_name=self.models[variant.name].name,
                    serverless_config=epc.SagemakerEndpointConfigurationProductionVariantsServerlessConfig(**serverless)
                    if serverless
                    else None,
                )
            )

        capture = None
        capture_content: dict[str, Any] | None = None
        if config.data_capture_enabled:
            destination = f"s3://{props.artifacts_bucket.name}/{DATA_CAPTURE_PREFIX}/"
            capture_content = {
                "sampling_percent": config.data_capture_sampling_percent,
                "destination": self._plain(destination),
                "kms_key": self._plain(props.ml_key.arn),
                "modes": ["Input", "Output"],
                # Part of the digest: a change of the captured types rolls the endpoint config to a new name.
                "csv_content_types": list(CAPTURE_CSV_CONTENT_TYPES),
                "json_content_types": list(CAPTURE_JSON_CONTENT_TYPES),
            }
            capture = epc.SagemakerEndpointConfigurationDataCaptureConfig(
                enable_capture=True,
                initial_sampling_percentage=config.data_capture_sampling_percent,
                destination_s3_uri=destination,
                kms_key_id=props.ml_key.arn,
                capture_options=[
                    epc.SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions(capture_mode=mode)
                    for mode in capture_content["modes"]
                ],
                capture_content_type_header=epc.SagemakerEndpointConfigurationDataCaptureConfigCaptureContentTypeHeader(
                    csv_content_types=capture_content["csv_content_types"],
                    json_content_types=capture_content["json_content_types"],
                ),
            )

        content = {"variants": content_variants, "kms_key": self._plain(props.ml_key.arn), "capture": capture_content}
        self.endpoint_config_name = props.deployment.naming.name(f"epc-{content_digest(content, 10)}", Kind.SAGEMAKER)
        self.endpoint_config = epc.SagemakerEndpointConfiguration(
            self,
            "endpoint-config",
            name=self.endpoint_config_name,
            production_variants=variants,
            # validate_serving refuses local-NVMe instance types, so the volume key can always be set.
            kms_key_arn=props.ml_key.arn,
            data_capture_config=capture,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _build_log_group(self) -> None:
        """The endpoint's log group, created ahead of the endpoint so it has our retention and key."""
        props = self._props
        self.log_group = owned_log_group(
            self,
            "endpoint-logs",
            naming=props.deployment.naming,
            name=f"/aws/sagemaker/Endpoints/{self.endpoint_name}",
            component="endpoint-logs",
            retention_days=props.logs.retention_days,
            kms_key_arn=props.ops_key.arn,
        )
