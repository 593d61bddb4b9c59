"""Phase two of model serving (ARCHITECTURE §6): the endpoint, per-variant autoscaling and per-variant alarms.

:class:`constructs.model_serving.ModelServing` builds this only when the phase flag is on, on top of phase one, which
never reads the flag: the phase-two plan therefore only adds resources. Instance variants scale by target tracking on
invocations per instance (serverless variants scale by themselves) unless ``autoscaling_enabled`` is off. Each variant
alarms on p99 model latency and on 5XX errors; an alarm notifies the alerts topic and invokes the traffic-shift
function, which moves traffic to the healthy variant.

A new model or endpoint config goes live through SageMaker's deployment guardrails (``RolloutSettings``): a blue/green
deployment that shifts traffic by canary, linear steps or all at once, waits a baking period after each step, and rolls
back when any variant alarm goes off. Rollout mode ``none`` (required for a serverless variant) leaves the endpoint
without a deployment config.
"""

from dataclasses import dataclass
from typing import Any

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings, build_alarm
from constructs.aws_modules import aws
from constructs.refs import Deployment, FunctionRef, TopicRef
from constructs.serving_rules import TRAFFIC_ROUTING_TYPES, RolloutSettings, VariantSettings, is_serverless

DEFAULT_ROLLOUT = RolloutSettings()  # a guarded canary (frozen, so one instance is shared safely)


@dataclass(frozen=True)
class EndpointWiring:
    """What the phase-two resources are wired to: phase one's outputs and the alarm targets."""

    deployment: Deployment
    endpoint_name: str  # the name phase one already derived (endpoint_ref)
    endpoint_config_name: str  # the endpoint config the endpoint serves
    log_group: Any  # the endpoint's log group, created before the endpoint writes to it
    alerts_topic: TopicRef  # every variant alarm notifies this topic
    traffic_shift_function: FunctionRef  # every variant alarm invokes this function


def variant_alarm_specs(endpoint_name: str, variant: str, alarms: AlarmsSettings) -> dict[str, AlarmSpec]:
    """The alarms of one variant, by kind: p99 model latency and 5XX errors."""
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant}
    return {
        "latency": AlarmSpec(
            id=f"alarm-{variant}-latency",
            name=f"endpoint-{variant}-latency-p99",
            description=(
                f"Variant {variant}: p99 ModelLatency above {alarms.model_latency_p99_ms} ms "
                "for 3 of 5 minutes; the traffic-shift function moves traffic to the healthy variant, and a "
                "deployment in progress rolls back. Check first: the variant's instance metrics (CPU, memory), then "
                "its model version"
            ),
            stage="serving",
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            # ModelLatency is reported in microseconds.
            threshold=alarms.model_latency_p99_ms * 1000,
            comparison="GreaterThanThreshold",
            # No traffic (e.g. weight 0) is not an incident.
            treat_missing_data="notBreaching",
        ),
        "5xx": AlarmSpec(
            id=f"alarm-{variant}-5xx",
            name=f"endpoint-{variant}-5xx",
            description=(
                f"Variant {variant}: {alarms.variant_5xx_errors} or more 5XX errors in 5 minutes; "
                "the traffic-shift function moves traffic to the healthy variant, and a deployment in progress rolls "
                f"back. Check first: the log group /aws/sagemaker/Endpoints/{endpoint_name}, then the variant's model "
                "version"
            ),
            stage="serving",
            namespace="AWS/SageMaker",
            metric_name="Invocation5XXErrors",
            dimensions=dimensions,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=alarms.variant_5xx_errors,
            comparison="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
        ),
    }


class ServingEndpoint:
    """Exposes ``endpoint``, ``scaling_targets`` and ``scaling_policies`` (instance variant name -> resource),
    ``alarms`` ("<variant>-latency" / "<variant>-5xx" -> alarm) and ``rollback_alarm_names`` (the alarms that roll a
    deployment back; empty without auto-rollback).

    ``rollout`` is trusted to have passed :func:`constructs.serving_rules.validate_serving` with these variants.

    Built in the owner's scope, so the construct ids (endpoint, scaling-target-A, alarm-A-latency, ...) stay the
    owner's.
    """

    def __init__(
        self,
        scope: Construct,
        wiring: EndpointWiring,
        variants: list[VariantSettings],
        alarms: AlarmsSettings,
        *,
        autoscaling: bool = True,
        rollout: RolloutSettings = DEFAULT_ROLLOUT,
    ) -> None:
        self._scope = scope
        self._wiring = wiring
        # The alarms come first: the endpoint's rollback configuration names them.
        self.alarms: dict[str, Any] = {}
        for variant in variants:
            self._build_alarms(variant, alarms)
        self.rollback_alarm_names: list[str] = (
            [
                wiring.deployment.naming.name(spec.name)
                for variant in variants
                for spec in variant_alarm_specs(wiring.endpoint_name, variant.name, alarms).values()
            ]
            if rollout.guarded and rollout.auto_rollback
            else []
        )
        self.endpoint = aws.sagemaker_endpoint.SagemakerEndpoint(
            scope,
            "endpoint",
            name=wiring.endpoint_name,
            endpoint_config_name=wiring.endpoint_config_name,
            deployment_config=self._deployment_config(rollout),
            # SageMaker reads the rollback alarms (cloudwatch:DescribeAlarms) when a deployment runs: create them first.
            depends_on=[wiring.log_group, *(self.alarms.values() if self.rollback_alarm_names else [])],
        )
        self.scaling_targets: dict[str, Any] = {}
        self.scaling_policies: dict[str, Any] = {}
        for variant in variants:
            # Serverless Inference scales by itself. Without autoscaling (SageMakerSettings.autoscaling_enabled), the
            # instance types and variants can be changed: SageMaker refuses that while a variant is registered.
            if autoscaling and not is_serverless(variant):
                self._build_autoscaling(variant)

    def _deployment_config(self, rollout: RolloutSettings) -> Any:
        """Blue/green with the rollout's traffic shifting and baking periods; auto-rollback on ``rollback_alarm_names``.
        None for mode ``none``: SageMaker's default (all at once, no baking period, no rollback)."""
        if not rollout.guarded:
            return None
        ep = aws.sagemaker_endpoint
        routing = ep.SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfiguration(
            type=TRAFFIC_ROUTING_TYPES[rollout.mode],
            wait_interval_in_seconds=rollout.wait_seconds,
            canary_size=ep.SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySize(
                type="CAPACITY_PERCENT", value=rollout.canary_percent
            )
            if rollout.mode == "canary"
            else None,
            linear_step_size=ep.SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSize(
                type="CAPACITY_PERCENT", value=rollout.linear_step_percent
            )
            if rollout.mode == "linear"
            else None,
        )
        return ep.SagemakerEndpointDeploymentConfig(
            blue_green_update_policy=ep.SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy(
                traffic_routing_configuration=routing,
                maximum_execution_timeout_in_seconds=rollout.max_execution_timeout_seconds,
                termination_wait_in_seconds=rollout.termination_wait_seconds,
            ),
            auto_rollback_configuration=ep.SagemakerEndpointDeploymentConfigAutoRollbackConfiguration(
                alarms=[
                    ep.SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms(alarm_name=name)
                    for name in self.rollback_alarm_names
                ]
            )
            if self.rollback_alarm_names
            else None,
        )

    def _build_autoscaling(self, variant: VariantSettings) -> None:
        scope, wiring = self._scope, self._wiring
        target = aws.appautoscaling_target.AppautoscalingTarget(
            scope,
            f"scaling-target-{variant.name}",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{wiring.endpoint_name}/variant/{variant.name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=variant.min_capacity,
            max_capacity=variant.max_capacity,
            depends_on=[self.endpoint],
        )
        tracking = aws.appautoscaling_policy
        self.scaling_targets[variant.name] = target
        self.scaling_policies[variant.name] = tracking.AppautoscalingPolicy(
            scope,
            f"scaling-policy-{variant.name}",
            name=wiring.deployment.naming.name(f"endpoint-{variant.name}-invocations"),
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

    def _build_alarms(self, variant: VariantSettings, alarms: AlarmsSettings) -> None:
        scope, wiring = self._scope, self._wiring
        topic, shift = wiring.alerts_topic.arn, wiring.traffic_shift_function.arn
        specs = variant_alarm_specs(wiring.endpoint_name, variant.name, alarms)
        built = {
            kind: build_alarm(scope, wiring.deployment.naming, spec, alarm_actions=[topic, shift], ok_actions=[topic])
            for kind, spec in specs.items()
        }
        for kind, alarm in built.items():
            self.alarms[f"{variant.name}-{kind}"] = alarm
            aws.lambda_permission.LambdaPermission(
                scope,
                f"alarm-{variant.name}-{kind}-invokes-traffic-shift",
                statement_id=f"AllowAlarm-{variant.name}-{kind}",
                action="lambda:InvokeFunction",
                function_name=shift,
                principal="lambda.alarms.cloudwatch.amazonaws.com",
                source_arn=alarm.arn,
                source_account=wiring.deployment.account_id,
            )
