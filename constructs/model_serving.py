"""SageMaker model serving and the phase flag (ARCHITECTURE §6).

Phase one (``endpoints_enabled = false``): the execution role, one model per variant, the endpoint config and the
endpoint's log group. Phase two adds the endpoint, per-variant autoscaling (instance variants) and per-variant alarms
wired to the alerts topic and the traffic-shift function. Flipping the flag is *additive*: nothing built in phase one
reads the flag, so the phase-two plan only creates resources.

Secure defaults: models run with network isolation; the endpoint's storage volumes and captured data are encrypted
with the ML key; the execution role reads only model artifacts, writes only data capture, pulls only the images it
serves and writes only SageMaker log groups.

Models and endpoint configs cannot be updated in place. Their names derive from their content, and they are created
before the old ones are destroyed, so a model change rolls the endpoint onto a new config instead of failing with
"already exists".
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cdktf import DefaultTokenResolver, StringConcat, TerraformResourceLifecycle, Token, Tokenization

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import Statement, allow, document, service_principal
from constructs.serving_rules import ecr_repository_arn, image_for, is_serverless, model_component, validate_serving
from stacks.config_sections import AlarmsConfig, SageMakerConfig, VariantConfig

# A valid, empty model.tar.gz (gzip, mtime 0, of an empty tar). SageMaker's CreateModel checks that the model data
# object exists, so phase one -- before any training job has produced a model -- uploads this to the placeholder key.
PLACEHOLDER_MODEL_BASE64 = "H4sIAAAAAAACA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAAAIA3A5reHScAKAAA"
PLACEHOLDER_PREFIX = "models/PLACEHOLDER"
DATA_CAPTURE_PREFIX = "data-capture"


@dataclass(frozen=True)
class ModelServingProps:
    """Models, endpoint config and (phase two) endpoint of one environment."""

    naming: Naming  # resource naming for this environment
    region: str  # picks the built-in image; part of log group and endpoint ARNs
    account_id: str  # owner of the role (aws:SourceAccount), log groups and endpoint
    sagemaker: SageMakerConfig  # variants, network isolation, VPC, data capture
    endpoints_enabled: bool  # the phase flag: False = models and endpoint config only
    ml_key_arn: str  # encrypts endpoint storage volumes and captured data; the artifacts bucket's key
    ops_key_arn: str  # encrypts the endpoint's log group
    artifacts_bucket_arn: str  # model-artifacts bucket: models/ is read, data-capture/ is written
    artifacts_bucket_name: str
    alerts_topic_arn: str  # per-variant alarms notify this topic (phase two)
    traffic_shift_function_arn: str  # per-variant alarms invoke this function (phase two)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)  # latency and 5XX thresholds
    log_retention_days: int = 365  # the endpoint's log group


def _digest(value: Any, length: int) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _s3_object_arn(url: str) -> str:
    return "arn:aws:s3:::" + url.removeprefix("s3://")


class ModelServing(Construct):
    """Exposes ``execution_role``, ``models`` (variant name -> SagemakerModel), ``endpoint_config``,
    ``endpoint_config_name``, ``endpoint_name``, ``endpoint_arn``, ``endpoint`` (None in phase one), ``log_group``,
    ``scaling_targets``, ``scaling_policies`` and ``alarms`` (empty in phase one)."""

    def __init__(self, scope: Construct, id: str, props: ModelServingProps) -> None:
        super().__init__(scope, id)
        naming = props.naming
        problems = validate_serving(naming.env, props.region, props.sagemaker, naming, props.endpoints_enabled)
        if problems:
            raise ValueError("model serving:\n  " + "\n  ".join(problems))
        self._props = props
        self.images = {v.name: image_for(props.region, v) for v in props.sagemaker.variants}
        self.model_data_urls = {v.name: self._model_data_url(v) for v in props.sagemaker.variants}

        # Known in both phases (the inference function and dashboards need it before the endpoint exists).
        self.endpoint_name = naming.name("endpoint", Kind.SAGEMAKER)
        # Naming lower-cases every name, so the ARN is lower-case as SageMaker reports it.
        self.endpoint_arn = f"arn:aws:sagemaker:{props.region}:{props.account_id}:endpoint/{self.endpoint_name}"

        # --- phase one: nothing below reads endpoints_enabled --------------------------------------------------------
        self._build_role()
        self._build_placeholders()
        self._build_models()
        self._build_endpoint_config()
        self._build_log_group()

        # --- phase two: only additions -------------------------------------------------------------------------------
        self.endpoint = None
        self.scaling_targets: dict[str, Any] = {}
        self.scaling_policies: dict[str, Any] = {}
        self.alarms: dict[str, Any] = {}
        if props.endpoints_enabled:
            self._build_endpoint()
            self._build_autoscaling()
            self._build_alarms()

    # --- build: phase one --------------------------------------------------------------------------------------------

    def _model_data_url(self, variant: VariantConfig) -> str:
        if variant.model_data_url:
            return variant.model_data_url
        return f"s3://{self._props.artifacts_bucket_name}/{PLACEHOLDER_PREFIX}/{variant.name}/model.tar.gz"

    def _plain(self, value: Any) -> Any:
        """A token as its Terraform expression (stable across synths), so it can be part of a content hash."""
        if isinstance(value, str) and Token.is_unresolved(value):
            return Tokenization.resolve(
                value, scope=self, preparing=False, resolver=DefaultTokenResolver(StringConcat())
            )
        return value

    def _build_role(self) -> None:
        props = self._props
        self.role_name = props.naming.name("sagemaker-exec", Kind.IAM_ROLE)
        trust = {
            "Sid": "SageMakerAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": service_principal("sagemaker.amazonaws.com"),
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
        }
        self.execution_role = aws.iam_role.IamRole(
            self,
            "execution-role",
            name=self.role_name,
            description="SageMaker execution role of the model-serving models",
            assume_role_policy=document(trust),
        )
        self.execution_role_policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "execution-policy",
            name=props.naming.name("sagemaker-exec", Kind.IAM_POLICY),
            role=self.execution_role.name,
            policy=document(*self._role_statements()),
        )

    def _role_statements(self) -> list[Statement]:
        props = self._props
        bucket = props.artifacts_bucket_arn
        model_objects = sorted({_s3_object_arn(u) for u in self.model_data_urls.values()})
        repositories = sorted({ecr_repository_arn(image) or "" for image in self.images.values()} - {""})
        log_groups = f"arn:aws:logs:{props.region}:{props.account_id}:log-group:/aws/sagemaker/*"
        statements = [
            allow("ReadModelArtifacts", ["s3:GetObject"], [f"{bucket}/models/*", *model_objects]),
            allow(
                "ListModelArtifacts",
                ["s3:ListBucket"],
                [bucket],
                Condition={"StringLike": {"s3:prefix": ["models/", "models/*"]}},
            ),
            allow("WriteDataCapture", ["s3:PutObject"], [f"{bucket}/{DATA_CAPTURE_PREFIX}/*"]),
            allow("UseMlKey", ["kms:Decrypt", "kms:GenerateDataKey"], [props.ml_key_arn]),
            allow(
                "GrantMlKeyToAwsResources",
                ["kms:CreateGrant"],
                [props.ml_key_arn],
                Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            allow("PullServingImages", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], repositories),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            allow("EcrAuthTokenNoResourceLevelPermissions", ["ecr:GetAuthorizationToken"], ["*"]),
            allow(
                "WriteSageMakerLogs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [log_groups],
            ),
        ]
        vpc = props.sagemaker.vpc
        if vpc is not None:
            ec2 = f"arn:aws:ec2:{props.region}:{props.account_id}"
            interfaces = f"{ec2}:network-interface/*"
            statements += [
                # The Describe calls have no resource-level permissions.
                allow(
                    "Ec2DescribeNoResourceLevelPermissions",
                    [
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                    ],
                    ["*"],
                ),
                allow(
                    "CreateModelNetworkInterfaces",
                    ["ec2:CreateNetworkInterface"],
                    [interfaces]
                    + [f"{ec2}:subnet/{s}" for s in sorted(vpc.subnet_ids)]
                    + [f"{ec2}:security-group/{g}" for g in sorted(vpc.security_group_ids)],
                ),
                allow(
                    "ManageModelNetworkInterfaces",
                    [
                        "ec2:CreateNetworkInterfacePermission",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DeleteNetworkInterfacePermission",
                    ],
                    [interfaces],
                ),
            ]
        return statements

    def _build_placeholders(self) -> None:
        """An empty model.tar.gz for each variant without a trained model (phase one only: phase two refuses them)."""
        props = self._props
        self.placeholders: dict[str, Any] = {}
        for variant in props.sagemaker.variants:
            if variant.model_data_url:
                continue
            self.placeholders[variant.name] = aws.s3_object.S3Object(
                self,
                f"placeholder-{variant.name}",
                bucket=props.artifacts_bucket_name,
                key=f"{PLACEHOLDER_PREFIX}/{variant.name}/model.tar.gz",
                content_base64=PLACEHOLDER_MODEL_BASE64,
                content_type="application/gzip",
                server_side_encryption="aws:kms",
                kms_key_id=props.ml_key_arn,
                bucket_key_enabled=True,
            )

    def _build_models(self) -> None:
        props = self._props
        config = props.sagemaker
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
            name = props.naming.name(model_component(variant.name, _digest(content, 8)), Kind.SAGEMAKER)
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
        config = props.sagemaker
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
            destination = f"s3://{props.artifacts_bucket_name}/{DATA_CAPTURE_PREFIX}/"
            capture_content = {
                "sampling_percent": config.data_capture_sampling_percent,
                "destination": self._plain(destination),
                "kms_key": self._plain(props.ml_key_arn),
                "modes": ["Input", "Output"],
                "json_content_types": ["application/json"],
            }
            capture = epc.SagemakerEndpointConfigurationDataCaptureConfig(
                enable_capture=True,
                initial_sampling_percentage=config.data_capture_sampling_percent,
                destination_s3_uri=destination,
                kms_key_id=props.ml_key_arn,
                capture_options=[
                    epc.SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions(capture_mode=mode)
                    for mode in capture_content["modes"]
                ],
                capture_content_type_header=epc.SagemakerEndpointConfigurationDataCaptureConfigCaptureContentTypeHeader(
                    json_content_types=capture_content["json_content_types"]
                ),
            )

        content = {"variants": content_variants, "kms_key": self._plain(props.ml_key_arn), "capture": capture_content}
        self.endpoint_config_name = props.naming.name(f"epc-{_digest(content, 10)}", Kind.SAGEMAKER)
        self.endpoint_config = epc.SagemakerEndpointConfiguration(
            self,
            "endpoint-config",
            name=self.endpoint_config_name,
            production_variants=variants,
            # validate_serving refuses local-NVMe instance types, so the volume key can always be set.
            kms_key_arn=props.ml_key_arn,
            data_capture_config=capture,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _build_log_group(self) -> None:
        """The endpoint's log group, created ahead of the endpoint so it has our retention and key."""
        props = self._props
        name = f"/aws/sagemaker/Endpoints/{self.endpoint_name}"
        props.naming.check(name, Kind.LOG_GROUP, "endpoint-logs")
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self, "endpoint-logs", name=name, retention_in_days=props.log_retention_days, kms_key_id=props.ops_key_arn
        )

    # --- build: phase two --------------------------------------------------------------------------------------------

    def _build_endpoint(self) -> None:
        self.endpoint = aws.sagemaker_endpoint.SagemakerEndpoint(
            self,
            "endpoint",
            name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            depends_on=[self.log_group],
        )

    def _build_autoscaling(self) -> None:
        props = self._props
        for variant in props.sagemaker.variants:
            if is_serverless(variant):
                continue  # Serverless Inference scales by itself
            target = aws.appautoscaling_target.AppautoscalingTarget(
                self,
                f"scaling-target-{variant.name}",
                service_namespace="sagemaker",
                resource_id=f"endpoint/{self.endpoint_name}/variant/{variant.name}",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=variant.min_capacity,
                max_capacity=variant.max_capacity,
                depends_on=[self.endpoint],
            )
            tracking = aws.appautoscaling_policy
            self.scaling_targets[variant.name] = target
            self.scaling_policies[variant.name] = tracking.AppautoscalingPolicy(
                self,
                f"scaling-policy-{variant.name}",
                name=props.naming.name(f"endpoint-{variant.name}-invocations"),
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=tracking.AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=variant.target_invocations_per_instance,
                    predefined_metric_specification=tracking.AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                    ),
                    # Scale out fast on a spike; scale in slowly so a short lull does not drop warm instances.
                    scale_out_cooldown=60,
                    scale_in_cooldown=300,
                ),
            )

    def _build_alarms(self) -> None:
        props = self._props
        actions = [props.alerts_topic_arn, props.traffic_shift_function_arn]
        for variant in props.sagemaker.variants:
            common = {
                "namespace": "AWS/SageMaker",
                "dimensions": {"EndpointName": self.endpoint_name, "VariantName": variant.name},
                "alarm_actions": actions,
                "ok_actions": [props.alerts_topic_arn],
                # No traffic (e.g. weight 0) is not an incident.
                "treat_missing_data": "notBreaching",
            }
            latency = aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
                self,
                f"alarm-{variant.name}-latency",
                alarm_name=props.naming.name(f"endpoint-{variant.name}-latency-p99"),
                alarm_description=(
                    f"Variant {variant.name}: p99 ModelLatency above {props.alarms.model_latency_p99_ms} ms "
                    "for 3 of 5 minutes; the traffic-shift function moves traffic to the healthy variant"
                ),
                metric_name="ModelLatency",
                extended_statistic="p99",
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                # ModelLatency is reported in microseconds.
                threshold=props.alarms.model_latency_p99_ms * 1000,
                comparison_operator="GreaterThanThreshold",
                **common,
            )
            errors = aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
                self,
                f"alarm-{variant.name}-5xx",
                alarm_name=props.naming.name(f"endpoint-{variant.name}-5xx"),
                alarm_description=(
                    f"Variant {variant.name}: {props.alarms.variant_5xx_errors} or more 5XX errors in 5 minutes; "
                    "the traffic-shift function moves traffic to the healthy variant"
                ),
                metric_name="Invocation5XXErrors",
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                threshold=props.alarms.variant_5xx_errors,
                comparison_operator="GreaterThanOrEqualToThreshold",
                **common,
            )
            for kind, alarm in (("latency", latency), ("5xx", errors)):
                self.alarms[f"{variant.name}-{kind}"] = alarm
                aws.lambda_permission.LambdaPermission(
                    self,
                    f"alarm-{variant.name}-{kind}-invokes-traffic-shift",
                    statement_id=f"AllowAlarm-{variant.name}-{kind}",
                    action="lambda:InvokeFunction",
                    function_name=props.traffic_shift_function_arn,
                    principal="lambda.alarms.cloudwatch.amazonaws.com",
                    source_arn=alarm.arn,
                    source_account=props.account_id,
                )
