"""Model serving and the alerts topic (ARCHITECTURE §6, §7), synthesized in a test-local stack for both phases."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cdktf import App, TerraformStack

from constructs import model_serving
from constructs.alarms import AlarmsSettings
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings
from constructs.model_serving import (
    CAPTURE_CSV_CONTENT_TYPES,
    CAPTURE_JSON_CONTENT_TYPES,
    PLACEHOLDER_MODEL_BASE64,
    ModelServing,
    ModelServingProps,
)
from constructs.monitoring import Alerts, AlertsProps, AlertsSettings
from constructs.naming import Naming
from constructs.refs import BucketRef, Deployment, FunctionRef, KeyRef, TopicRef
from constructs.serving_rules import (
    XGBOOST_IMAGES,
    RolloutSettings,
    SageMakerSettings,
    VariantSettings,
    VpcSettings,
    endpoint_ref,
    has_local_nvme,
    image_for,
    validate_serving,
)
from tests.support.synth import by_path, of_type, policy_of, ref_id, resources

ACCOUNT = "123456789012"
REGION = "us-east-1"
ML_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
OPS_KEY = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
BUCKET = "mlpipe-model-artifacts-dev"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
ARTIFACTS = BucketRef(name=BUCKET, arn=BUCKET_ARN)
SHIFT_FN = "arn:aws:lambda:us-east-1:123456789012:function:mlpipe-traffic-shift-dev"
SHIFT_FN_INVOKE = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{SHIFT_FN}/invocations"
URL_A = f"s3://{BUCKET}/models/xgb-20240601-1200/A/output/model.tar.gz"
URL_B = f"s3://{BUCKET}/models/xgb-20240603-0900/B/output/model.tar.gz"
XGBOOST_US_EAST_1 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
NAMING = Naming(project="mlpipe", env="dev")
DEPLOYMENT = Deployment(naming=NAMING, account_id=ACCOUNT, region=REGION)
ALERTS_TOPIC = TopicRef("arn:aws:sns:us-east-1:123456789012:mlpipe-alerts-dev")
PHASE_TWO_ONLY = (
    "aws_sagemaker_endpoint",
    "aws_appautoscaling_target",
    "aws_appautoscaling_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_lambda_permission",
)


def two_variants(url_a: str | None = URL_A, url_b: str | None = URL_B, **settings: Any) -> SageMakerSettings:
    return SageMakerSettings(
        variants=[
            VariantSettings(name="A", weight=80, model_data_url=url_a),
            VariantSettings(name="B", weight=20, model_data_url=url_b),
        ],
        **settings,
    )


def serving_props(
    *,
    endpoints_enabled: bool = False,
    sagemaker: SageMakerSettings | None = None,
    alerts_topic: TopicRef = ALERTS_TOPIC,
    ml_key_arn: str = ML_KEY,
    bucket: BucketRef = ARTIFACTS,
    **settings: Any,
) -> ModelServingProps:
    return ModelServingProps(
        deployment=DEPLOYMENT,
        ml_key=KeyRef(ml_key_arn),
        ops_key=KeyRef(OPS_KEY),
        artifacts_bucket=bucket,
        alerts_topic=alerts_topic,
        traffic_shift_function=FunctionRef(name="mlpipe-traffic-shift-dev", arn=SHIFT_FN, invoke_arn=SHIFT_FN_INVOKE),
        endpoints_enabled=endpoints_enabled,
        settings=sagemaker or two_variants(),
        **settings,
    )


def synth(outdir: Path, *, endpoints_enabled: bool, sagemaker: SageMakerSettings | None = None) -> dict[str, Any]:
    """One stack with the alerts topic and model serving; returns the parsed cdk.tf.json."""
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "serving")
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    alerts = Alerts(
        stack,
        "alerts",
        AlertsProps(NAMING, KeyRef(OPS_KEY), ACCOUNT, AlertsSettings(alert_emails=["ml-oncall@example.com"])),
    )
    ModelServing(
        stack,
        "serving",
        serving_props(
            endpoints_enabled=endpoints_enabled,
            sagemaker=sagemaker,
            alerts_topic=alerts.ref,
            alarms=AlarmsSettings(model_latency_p99_ms=750, variant_5xx_errors=3),
            logs=LogsSettings(retention_days=365),
        ),
    )
    app.synth()
    return json.loads((outdir / "stacks" / "serving" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("phase-one"), endpoints_enabled=False)


@pytest.fixture(scope="module")
def phase_two(tmp_path_factory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("phase-two"), endpoints_enabled=True)


@pytest.fixture
def synth_with(tmp_path_factory):
    def _synth(sagemaker: SageMakerSettings, endpoints_enabled: bool = False) -> dict[str, Any]:
        return synth(tmp_path_factory.mktemp("variant"), endpoints_enabled=endpoints_enabled, sagemaker=sagemaker)

    return _synth


def ref(stack: dict[str, Any], rtype: str, suffix: str, attribute: str) -> str:
    return f"${{{rtype}.{ref_id(by_path(stack, rtype, suffix))}.{attribute}}}"


def endpoint_config(stack: dict[str, Any]) -> dict[str, Any]:
    return by_path(stack, "aws_sagemaker_endpoint_configuration", "/serving/endpoint-config")


# --- phases ----------------------------------------------------------------------------------------------------------


def test_phase_one_has_no_endpoint_autoscaling_or_endpoint_alarms(phase_one):
    for rtype in PHASE_TWO_ONLY:
        assert of_type(phase_one, rtype) == {}, rtype


def test_phase_one_has_role_models_endpoint_config_and_log_group(phase_one):
    counts = {rtype: len(items) for rtype, items in phase_one["resource"].items()}
    assert counts == {
        "aws_iam_role": 1,
        "aws_iam_role_policy": 1,
        "aws_sagemaker_model": 2,
        "aws_sagemaker_endpoint_configuration": 1,
        "aws_cloudwatch_log_group": 1,
        "aws_sns_topic": 1,
        "aws_sns_topic_policy": 1,
        "aws_sns_topic_subscription": 1,
    }


def test_phase_two_adds_exactly_the_endpoint_its_scaling_and_alarms(phase_one, phase_two):
    added = {
        rtype: len(items) - len(phase_one["resource"].get(rtype, {})) for rtype, items in phase_two["resource"].items()
    }
    assert {rtype: n for rtype, n in added.items() if n} == {
        "aws_sagemaker_endpoint": 1,
        "aws_appautoscaling_target": 2,
        "aws_appautoscaling_policy": 2,
        "aws_cloudwatch_metric_alarm": 4,
        "aws_lambda_permission": 4,
    }


def test_flipping_the_phase_flag_only_adds_resources(phase_one, phase_two):
    """Every phase-one resource is byte-identical in phase two: the phase-two plan creates and never replaces."""
    for rtype, logical_id, body in resources(phase_one):
        assert phase_two["resource"][rtype].get(logical_id) == body, f"{rtype}.{logical_id} changes in phase two"


# --- endpoint (phase two) --------------------------------------------------------------------------------------------


def test_endpoint_has_the_deterministic_name_and_uses_the_endpoint_config(phase_two):
    endpoint = by_path(phase_two, "aws_sagemaker_endpoint", "/serving/endpoint")
    assert endpoint["name"] == "mlpipe-endpoint-dev"
    assert endpoint["endpoint_config_name"] == ref(
        phase_two, "aws_sagemaker_endpoint_configuration", "/serving/endpoint-config", "name"
    )
    # The default rollout; every field of the deployment config is asserted in test_rollout.py.
    assert (
        endpoint["deployment_config"]["blue_green_update_policy"]["traffic_routing_configuration"]["type"] == "CANARY"
    )


def test_endpoint_name_and_arn_are_known_in_phase_one(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "serving")
    serving = ModelServing(
        stack,
        "serving",
        serving_props(),
    )
    assert serving.endpoint is None
    assert serving.endpoint_name == "mlpipe-endpoint-dev"
    assert serving.endpoint_arn == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlpipe-endpoint-dev"
    assert serving.endpoint_ref == endpoint_ref(DEPLOYMENT)  # the one derivation the stack shares
    assert re.fullmatch(r"mlpipe-epc-[0-9a-f]{10}-dev", serving.endpoint_config_name)


def test_each_instance_variant_gets_a_scalable_target(phase_two):
    for variant in ("A", "B"):
        target = dict(by_path(phase_two, "aws_appautoscaling_target", f"/scaling-target-{variant}"))
        target.pop("//")
        assert target == {
            "service_namespace": "sagemaker",
            "resource_id": f"endpoint/mlpipe-endpoint-dev/variant/{variant}",
            "scalable_dimension": "sagemaker:variant:DesiredInstanceCount",
            "min_capacity": 1,
            "max_capacity": 2,
            "depends_on": [
                f"aws_sagemaker_endpoint.{ref_id(by_path(phase_two, 'aws_sagemaker_endpoint', '/endpoint'))}"
            ],
        }


def test_each_instance_variant_tracks_invocations_per_instance(phase_two):
    for variant in ("A", "B"):
        policy = by_path(phase_two, "aws_appautoscaling_policy", f"/scaling-policy-{variant}")
        target = f"/scaling-target-{variant}"
        assert policy["name"] == f"mlpipe-endpoint-{variant.lower()}-invocations-dev"
        assert policy["policy_type"] == "TargetTrackingScaling"
        assert policy["resource_id"] == ref(phase_two, "aws_appautoscaling_target", target, "resource_id")
        assert policy["target_tracking_scaling_policy_configuration"] == {
            "target_value": 100,
            "predefined_metric_specification": {"predefined_metric_type": "SageMakerVariantInvocationsPerInstance"},
            "scale_out_cooldown": 60,
            "scale_in_cooldown": 300,
        }


def test_autoscaling_is_on_by_default():
    assert SageMakerSettings().autoscaling_enabled is True


def test_without_autoscaling_phase_two_registers_no_scalable_target_or_policy(phase_two, synth_with):
    stack = synth_with(two_variants(autoscaling_enabled=False), endpoints_enabled=True)
    assert of_type(stack, "aws_appautoscaling_target") == {}
    assert of_type(stack, "aws_appautoscaling_policy") == {}
    # Everything else is exactly phase two's: the endpoint, its config, the alarms and their permissions.
    without = {rtype: items for rtype, items in phase_two["resource"].items() if not rtype.startswith("aws_appauto")}
    assert stack["resource"] == without


def test_turning_autoscaling_off_does_not_touch_phase_one(phase_one, synth_with):
    """Phase one has no autoscaling: the setting changes nothing there (no config roll, no model change)."""
    assert synth_with(two_variants(autoscaling_enabled=False))["resource"] == phase_one["resource"]


def test_serverless_variant_gets_no_scalable_target(synth_with):
    serverless = SageMakerSettings(
        network_isolation=False,
        data_capture_enabled=False,
        variants=[VariantSettings(name="A", weight=1, model_data_url=URL_A, serverless_memory_mb=2048)],
        rollout=RolloutSettings(mode="none"),
    )
    stack = synth_with(serverless, endpoints_enabled=True)
    assert of_type(stack, "aws_appautoscaling_target") == {}
    assert endpoint_config(stack)["production_variants"] == [
        {
            "variant_name": "A",
            "initial_variant_weight": 1,
            "model_name": ref(stack, "aws_sagemaker_model", "/model-A", "name"),
            "serverless_config": {"max_concurrency": 5, "memory_size_in_mb": 2048},
        }
    ]


def test_each_variant_alarms_on_p99_model_latency_in_microseconds(phase_two):
    topic = ref(phase_two, "aws_sns_topic", "/alerts/topic", "arn")
    for variant in ("A", "B"):
        alarm = by_path(phase_two, "aws_cloudwatch_metric_alarm", f"/alarm-{variant}-latency")
        assert {k: v for k, v in alarm.items() if k not in ("//", "alarm_description")} == {
            "alarm_name": f"mlpipe-endpoint-{variant.lower()}-latency-p99-dev",
            "namespace": "AWS/SageMaker",
            "metric_name": "ModelLatency",
            "extended_statistic": "p99",
            "dimensions": {"EndpointName": "mlpipe-endpoint-dev", "VariantName": variant},
            "period": 60,
            "evaluation_periods": 5,
            "datapoints_to_alarm": 3,
            "threshold": 750_000,  # 750 ms
            "comparison_operator": "GreaterThanThreshold",
            "treat_missing_data": "notBreaching",
            "alarm_actions": [topic, SHIFT_FN],
            "ok_actions": [topic],
        }


def test_each_variant_alarms_on_5xx_errors_over_five_minutes(phase_two):
    topic = ref(phase_two, "aws_sns_topic", "/alerts/topic", "arn")
    for variant in ("A", "B"):
        alarm = by_path(phase_two, "aws_cloudwatch_metric_alarm", f"/alarm-{variant}-5xx")
        assert {k: v for k, v in alarm.items() if k not in ("//", "alarm_description")} == {
            "alarm_name": f"mlpipe-endpoint-{variant.lower()}-5xx-dev",
            "namespace": "AWS/SageMaker",
            "metric_name": "Invocation5XXErrors",
            "statistic": "Sum",
            "dimensions": {"EndpointName": "mlpipe-endpoint-dev", "VariantName": variant},
            "period": 300,
            "evaluation_periods": 1,
            "threshold": 3,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "treat_missing_data": "notBreaching",
            "alarm_actions": [topic, SHIFT_FN],
            "ok_actions": [topic],
        }


def test_each_alarm_may_invoke_the_traffic_shift_function(phase_two):
    permissions = of_type(phase_two, "aws_lambda_permission").values()
    alarms = {f"${{aws_cloudwatch_metric_alarm.{i}.arn}}" for i in of_type(phase_two, "aws_cloudwatch_metric_alarm")}
    assert {p["source_arn"] for p in permissions} == alarms
    for permission in permissions:
        assert permission["function_name"] == SHIFT_FN
        assert permission["action"] == "lambda:InvokeFunction"
        assert permission["principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
        assert permission["source_account"] == ACCOUNT


# --- models and endpoint config --------------------------------------------------------------------------------------


def test_weights_are_the_configured_integers(phase_one):
    variants = endpoint_config(phase_one)["production_variants"]
    assert [(v["variant_name"], v["initial_variant_weight"]) for v in variants] == [("A", 80), ("B", 20)]
    assert all(type(v["initial_variant_weight"]) is int for v in variants)


def test_instance_variants_name_their_model_type_and_count(phase_one):
    variants = endpoint_config(phase_one)["production_variants"]
    assert [(v["model_name"], v["instance_type"], v["initial_instance_count"]) for v in variants] == [
        (ref(phase_one, "aws_sagemaker_model", "/model-A", "name"), "ml.m5.large", 1),
        (ref(phase_one, "aws_sagemaker_model", "/model-B", "name"), "ml.m5.large", 1),
    ]


def test_data_capture_records_input_and_output_encrypted_under_data_capture(phase_one):
    assert endpoint_config(phase_one)["data_capture_config"] == {
        "enable_capture": True,
        "initial_sampling_percentage": 20,
        "destination_s3_uri": f"s3://{BUCKET}/data-capture/",
        "kms_key_id": ML_KEY,
        "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
        # text/csv is what the inference path sends: captured as text, not base64
        "capture_content_type_header": {"csv_content_types": ["text/csv"], "json_content_types": ["application/json"]},
    }


def test_captured_content_types_are_ones_sagemaker_accepts():
    """CaptureContentTypeHeader: 1-10 types per list, each 1-256 characters of SageMaker's pattern."""
    pattern = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*"
    for types in (CAPTURE_CSV_CONTENT_TYPES, CAPTURE_JSON_CONTENT_TYPES):
        assert 1 <= len(types) <= 10
        assert all(re.fullmatch(pattern, t) and len(t) <= 256 for t in types), types
    assert "text/csv" in CAPTURE_CSV_CONTENT_TYPES  # lambda_src/mlp_common/model.py sends ContentType="text/csv"


def test_endpoint_config_name_changes_when_the_captured_content_types_change(phase_one, synth_with, monkeypatch):
    monkeypatch.setattr(model_serving, "CAPTURE_CSV_CONTENT_TYPES", ("text/csv", "text/plain"))
    config = endpoint_config(synth_with(two_variants()))
    assert config["data_capture_config"]["capture_content_type_header"]["csv_content_types"] == [
        "text/csv",
        "text/plain",
    ]
    assert config["name"] != endpoint_config(phase_one)["name"]


def test_data_capture_can_be_turned_off(synth_with):
    stack = synth_with(two_variants(data_capture_enabled=False))
    assert "data_capture_config" not in endpoint_config(stack)


def test_endpoint_volumes_are_encrypted_with_the_ml_key(phase_one):
    assert endpoint_config(phase_one)["kms_key_arn"] == ML_KEY


def test_endpoint_config_name_derives_from_content_and_rolls_before_destroy(phase_one):
    config = endpoint_config(phase_one)
    assert re.fullmatch(r"mlpipe-epc-[0-9a-f]{10}-dev", config["name"])
    assert config["lifecycle"] == {"create_before_destroy": True}


def test_endpoint_config_name_is_stable_for_the_same_config(phase_one, synth_with):
    assert endpoint_config(synth_with(two_variants()))["name"] == endpoint_config(phase_one)["name"]


def test_endpoint_config_name_changes_when_a_model_url_changes(phase_one, synth_with):
    retrained = synth_with(two_variants(url_b=f"s3://{BUCKET}/models/xgb-20240701-0800/B/output/model.tar.gz"))
    assert endpoint_config(retrained)["name"] != endpoint_config(phase_one)["name"]


def test_only_the_changed_variants_model_gets_a_new_name(phase_one, synth_with):
    retrained = synth_with(two_variants(url_b=f"s3://{BUCKET}/models/xgb-20240701-0800/B/output/model.tar.gz"))
    a, b = "/model-A", "/model-B"
    assert by_path(retrained, "aws_sagemaker_model", a)["name"] == by_path(phase_one, "aws_sagemaker_model", a)["name"]
    assert by_path(retrained, "aws_sagemaker_model", b)["name"] != by_path(phase_one, "aws_sagemaker_model", b)["name"]


def test_endpoint_config_name_changes_when_a_weight_changes(phase_one, synth_with):
    config = SageMakerSettings(
        variants=[
            VariantSettings(name="A", weight=50, model_data_url=URL_A),
            VariantSettings(name="B", weight=50, model_data_url=URL_B),
        ]
    )
    assert endpoint_config(synth_with(config))["name"] != endpoint_config(phase_one)["name"]


def test_models_serve_the_regions_xgboost_image_with_network_isolation(phase_one):
    role = ref(phase_one, "aws_iam_role", "/execution-role", "arn")
    for variant, url in (("A", URL_A), ("B", URL_B)):
        model = by_path(phase_one, "aws_sagemaker_model", f"/model-{variant}")
        assert re.fullmatch(rf"mlpipe-model-{variant.lower()}-[0-9a-f]{{8}}-dev", model["name"])
        assert model["execution_role_arn"] == role
        assert model["enable_network_isolation"] is True
        assert model["primary_container"] == {"image": XGBOOST_US_EAST_1, "model_data_url": url, "mode": "SingleModel"}
        assert model["lifecycle"] == {"create_before_destroy": True}
        assert "vpc_config" not in model


def test_models_wait_for_the_role_policy(phase_one):
    """CreateModel checks that the execution role can read the model data."""
    policy = f"aws_iam_role_policy.{ref_id(by_path(phase_one, 'aws_iam_role_policy', '/execution-policy'))}"
    for variant in ("A", "B"):
        assert by_path(phase_one, "aws_sagemaker_model", f"/model-{variant}")["depends_on"] == [policy]


def test_an_explicit_image_uri_wins(synth_with):
    image = "999999999999.dkr.ecr.us-east-1.amazonaws.com/fraud-model:2024-06-01"
    config = SageMakerSettings(variants=[VariantSettings(name="A", weight=1, model_data_url=URL_A, image_uri=image)])
    stack = synth_with(config)
    assert by_path(stack, "aws_sagemaker_model", "/model-A")["primary_container"]["image"] == image
    statements = policy_of(by_path(stack, "aws_iam_role_policy", "/execution-policy"))["Statement"]
    pull = next(s for s in statements if s["Sid"] == "PullImages")
    assert pull["Resource"] == ["arn:aws:ecr:us-east-1:999999999999:repository/fraud-model"]


def test_network_isolation_can_be_turned_off(synth_with):
    stack = synth_with(two_variants(network_isolation=False))
    assert by_path(stack, "aws_sagemaker_model", "/model-A")["enable_network_isolation"] is False


def test_vpc_config_places_models_in_the_subnets(synth_with):
    vpc = VpcSettings(subnet_ids=["subnet-0bbbbbbb", "subnet-0aaaaaaa"], security_group_ids=["sg-01111111"])
    stack = synth_with(two_variants(vpc=vpc))
    assert by_path(stack, "aws_sagemaker_model", "/model-A")["vpc_config"] == {
        "subnets": ["subnet-0aaaaaaa", "subnet-0bbbbbbb"],
        "security_group_ids": ["sg-01111111"],
    }


def test_vpc_config_grants_network_interface_actions(synth_with):
    vpc = VpcSettings(subnet_ids=["subnet-0aaaaaaa"], security_group_ids=["sg-01111111"])
    statements = policy_of(by_path(synth_with(two_variants(vpc=vpc)), "aws_iam_role_policy", "/execution-policy"))
    by_sid = {s["Sid"]: s for s in statements["Statement"]}
    ec2 = "arn:aws:ec2:us-east-1:123456789012"
    assert by_sid["CreateModelNetworkInterfaces"]["Resource"] == [
        f"{ec2}:network-interface/*",
        f"{ec2}:subnet/subnet-0aaaaaaa",
        f"{ec2}:security-group/sg-01111111",
    ]
    assert by_sid["ManageModelNetworkInterfaces"]["Resource"] == [f"{ec2}:network-interface/*"]
    assert by_sid["Ec2DescribeNoResourceLevelPermissions"]["Resource"] == ["*"]


def test_without_a_trained_model_phase_one_serves_a_clearly_named_placeholder(synth_with):
    stack = synth_with(two_variants(url_a=None, url_b=None))
    placeholder = f"s3://{BUCKET}/models/PLACEHOLDER/A/model.tar.gz"
    assert by_path(stack, "aws_sagemaker_model", "/model-A")["primary_container"]["model_data_url"] == placeholder
    obj = by_path(stack, "aws_s3_object", "/placeholder-A")
    assert {k: obj[k] for k in ("bucket", "key", "content_base64", "server_side_encryption", "kms_key_id")} == {
        "bucket": BUCKET,
        "key": "models/PLACEHOLDER/A/model.tar.gz",
        "content_base64": PLACEHOLDER_MODEL_BASE64,
        "server_side_encryption": "aws:kms",
        "kms_key_id": ML_KEY,
    }


def test_phase_two_refuses_placeholder_models(tmp_path):
    with pytest.raises(ValueError, match=r"field 'endpoints_enabled': phase two needs a trained model"):
        synth(tmp_path, endpoints_enabled=True, sagemaker=two_variants(url_b=None))


def test_the_construct_refuses_an_invalid_config(tmp_path):
    nvme = SageMakerSettings(variants=[VariantSettings(name="A", weight=1, instance_type="ml.g4dn.xlarge")])
    with pytest.raises(ValueError, match=r"field 'sagemaker\.variants\.0\.instance_type'"):
        synth(tmp_path, endpoints_enabled=False, sagemaker=nvme)


def test_endpoint_log_group_has_retention_and_the_ops_key(phase_one):
    log_group = by_path(phase_one, "aws_cloudwatch_log_group", "/serving/endpoint-logs")
    assert log_group["name"] == "/aws/sagemaker/Endpoints/mlpipe-endpoint-dev"
    assert log_group["retention_in_days"] == 365
    assert log_group["kms_key_id"] == OPS_KEY


# --- execution role --------------------------------------------------------------------------------------------------


def test_only_sagemaker_of_this_account_assumes_the_execution_role(phase_one):
    role = by_path(phase_one, "aws_iam_role", "/execution-role")
    assert role["name"] == "mlpipe-sagemaker-exec-dev"
    assert policy_of(role, "assume_role_policy")["Statement"] == [
        {
            "Sid": "SageMakerAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_execution_role_policy_is_least_privilege(phase_one):
    policy = by_path(phase_one, "aws_iam_role_policy", "/execution-policy")
    assert policy["role"] == ref(phase_one, "aws_iam_role", "/execution-role", "name")
    models = sorted("arn:aws:s3:::" + u.removeprefix("s3://") for u in (URL_A, URL_B))
    assert policy_of(policy)["Statement"] == [
        {
            "Sid": "ReadModelArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{BUCKET_ARN}/models/*", *models],
        },
        {
            "Sid": "ListModelArtifacts",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [BUCKET_ARN],
            "Condition": {"StringLike": {"s3:prefix": ["models/", "models/*"]}},
        },
        {
            "Sid": "WriteDataCapture",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{BUCKET_ARN}/data-capture/*"],
        },
        {"Sid": "UseMlKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [ML_KEY]},
        {
            "Sid": "GrantMlKeyToAwsResources",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant"],
            "Resource": [ML_KEY],
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "PullImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": ["arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"],
        },
        {
            "Sid": "EcrAuthTokenNoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": ["*"],
        },
        {
            "Sid": "WriteSageMakerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*"],
        },
        {
            # Endpoint instance metrics go to /aws/sagemaker/Endpoints; PutMetricData takes no resource ARN.
            "Sid": "PutSageMakerMetricsNoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        },
    ]


# --- alerts topic ----------------------------------------------------------------------------------------------------


def test_alerts_topic_is_encrypted_with_the_ops_key(phase_one):
    topic = by_path(phase_one, "aws_sns_topic", "/alerts/topic")
    assert topic["name"] == "mlpipe-alerts-dev"
    assert topic["kms_master_key_id"] == OPS_KEY


def test_only_this_accounts_alarms_and_eventbridge_rules_publish_and_only_over_tls(phase_one):
    policy = by_path(phase_one, "aws_sns_topic_policy", "/alerts/policy")
    topic = ref(phase_one, "aws_sns_topic", "/alerts/topic", "arn")
    assert policy["arn"] == topic
    assert policy_of(policy)["Statement"] == [
        {
            "Sid": "AllowAccountAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        },
        {
            # EventBridge: no Condition block is supported in a topic policy (EventBridge User Guide)
            "Sid": "AllowEventBridgeRulesToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
        },
        {
            # Cost Management User Guide, "Creating an Amazon SNS topic for budget notifications"
            "Sid": "AllowAccountBudgetsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{ACCOUNT}:*"},
            },
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]


def test_each_alert_address_gets_an_email_subscription(phase_one):
    (subscription,) = of_type(phase_one, "aws_sns_topic_subscription").values()
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "ml-oncall@example.com"
    assert subscription["topic_arn"] == ref(phase_one, "aws_sns_topic", "/alerts/topic", "arn")


def test_alerts_without_addresses_have_no_subscriptions(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "alerts")
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    Alerts(stack, "alerts", AlertsProps(naming=NAMING, ops_key=KeyRef(OPS_KEY), account_id=ACCOUNT))
    app.synth()
    synthesized = json.loads((tmp_path / "stacks" / "alerts" / "cdk.tf.json").read_text())
    assert of_type(synthesized, "aws_sns_topic_subscription") == {}


def test_alerts_refuse_a_duplicate_address():
    with pytest.raises(ValueError, match=r"each address may be listed once; repeated: \['a@x.io'\]"):
        AlertsSettings(alert_emails=["a@x.io", "a@x.io"])


# --- images and validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "account"),
    [
        ("us-east-1", "683313688378"),
        ("us-east-2", "257758044811"),
        ("us-west-2", "246618743249"),
        ("eu-west-1", "141502667606"),
        ("eu-central-1", "492215442770"),
        ("ap-southeast-2", "783357654285"),
        ("ap-northeast-1", "354813040037"),
    ],
)
def test_built_in_xgboost_image_per_region(region, account):
    assert XGBOOST_IMAGES[region] == f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1"


def test_image_for_an_unknown_region_without_image_uri_is_an_error():
    with pytest.raises(ValueError, match=r"variant 'A': region 'mx-central-1' has no built-in XGBoost image"):
        image_for("mx-central-1", VariantSettings(name="A", weight=1))


@pytest.mark.parametrize(
    ("instance_type", "nvme"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.p3dn.24xlarge", True),
        ("ml.m5d.large", True),
        ("ml.c5d.xlarge", True),
        ("ml.r5d.2xlarge", True),
        ("ml.g5.xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
        ("ml.t2.medium", False),
        ("ml.inf1.xlarge", False),
    ],
)
def test_local_nvme_instance_types(instance_type, nvme):
    assert has_local_nvme(instance_type) is nvme


def test_a_valid_serving_config_has_no_problems():
    assert validate_serving("dev", "us-east-1", two_variants(), NAMING) == []


def test_validation_refuses_nvme_instance_types_because_of_the_volume_key():
    config = SageMakerSettings(
        variants=[
            VariantSettings(name="A", weight=80),
            VariantSettings(name="B", weight=20, instance_type="ml.g4dn.xlarge"),
        ]
    )
    assert validate_serving("prod", "us-east-1", config) == [
        "environment 'prod', field 'sagemaker.variants.1.instance_type': 'ml.g4dn.xlarge' has local NVMe instance "
        "storage, and SageMaker refuses a volume KMS key for such instances (CreateEndpointConfig fails) while every "
        "endpoint config here is encrypted with the ML key; choose an EBS-backed instance type such as ml.m5.large"
    ]


def test_validation_needs_an_image_uri_in_a_region_without_a_built_in_image():
    (problem,) = validate_serving(
        "dev", "mx-central-1", SageMakerSettings(variants=[VariantSettings(name="A", weight=1)])
    )
    assert problem.startswith(
        "environment 'dev', field 'sagemaker.variants.0.image_uri': region 'mx-central-1' has no built-in XGBoost "
        "image; set image_uri explicitly (regions with a built-in image: af-south-1, ap-east-1, "
    )


def test_validation_accepts_an_explicit_image_in_a_region_without_a_built_in_image():
    image = "999999999999.dkr.ecr.mx-central-1.amazonaws.com/fraud-model:1"
    config = SageMakerSettings(variants=[VariantSettings(name="A", weight=1, image_uri=image)])
    assert validate_serving("dev", "mx-central-1", config) == []


def test_validation_refuses_an_image_outside_ecr():
    config = SageMakerSettings(variants=[VariantSettings(name="A", weight=1, image_uri="docker.io/library/xgb:1")])
    assert validate_serving("dev", "us-east-1", config) == [
        "environment 'dev', field 'sagemaker.variants.0.image_uri': 'docker.io/library/xgb:1' is not an ECR image URI "
        "('<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]'); the execution role can only be "
        "granted pulls from ECR repositories"
    ]


def test_validation_needs_the_initial_count_within_the_capacity_bounds():
    config = SageMakerSettings(
        variants=[VariantSettings(name="A", weight=1, initial_instance_count=3, min_capacity=1, max_capacity=2)]
    )
    assert validate_serving("staging", "us-east-1", config) == [
        "environment 'staging', field 'sagemaker.variants.0.initial_instance_count': must lie between min_capacity "
        "(1) and max_capacity (2), got 3"
    ]


def test_validation_needs_min_capacity_at_most_max_capacity():
    config = SageMakerSettings(
        variants=[VariantSettings(name="A", weight=1, initial_instance_count=3, min_capacity=3, max_capacity=2)]
    )
    assert validate_serving("staging", "us-east-1", config) == [
        "environment 'staging', field 'sagemaker.variants.0.min_capacity': min_capacity (3) must not exceed "
        "max_capacity (2)"
    ]


def test_validation_refuses_instance_settings_on_a_serverless_variant():
    variant = VariantSettings(name="A", weight=1, serverless_memory_mb=2048, max_capacity=4)
    config = SageMakerSettings(
        network_isolation=False, data_capture_enabled=False, variants=[variant], rollout=RolloutSettings(mode="none")
    )
    assert validate_serving("dev", "us-east-1", config) == [
        "environment 'dev', field 'sagemaker.variants.0.max_capacity': not allowed on a serverless variant "
        "(serverless_memory_mb is set): instance type and autoscaling apply to instance variants only"
    ]


def test_validation_refuses_features_serverless_inference_lacks():
    variant = VariantSettings(name="A", weight=1, serverless_memory_mb=2048)
    problems = validate_serving("dev", "us-east-1", SageMakerSettings(variants=[variant]))
    message = "Serverless Inference does not support it; turn it off for a serverless variant"
    assert problems == [
        f"environment 'dev', field 'sagemaker.network_isolation': {message}",
        f"environment 'dev', field 'sagemaker.data_capture_enabled': {message}",
        # nor deployment guardrails, which the default rollout (canary) uses
        "environment 'dev', field 'sagemaker.rollout.mode': 'canary' needs SageMaker deployment guardrails (traffic "
        "shifting, baking periods, auto-rollback), which Serverless Inference does not support (variant A is "
        "serverless); set rollout.mode to 'none' for a serverless endpoint",
    ]


def test_validation_refuses_a_serverless_variant_next_to_another_variant():
    config = SageMakerSettings(
        network_isolation=False,
        data_capture_enabled=False,
        variants=[
            VariantSettings(name="A", weight=80),
            VariantSettings(name="B", weight=20, serverless_memory_mb=1024),
        ],
        rollout=RolloutSettings(mode="none"),
    )
    assert validate_serving("dev", "us-east-1", config) == [
        "environment 'dev', field 'sagemaker.variants.1.serverless_memory_mb': a serverless variant must be the "
        "endpoint's only variant (Serverless Inference supports a single production variant)"
    ]


def test_validation_refuses_a_variant_name_too_long_for_its_model_name():
    config = SageMakerSettings(variants=[VariantSettings(name="champion-model-with-long-name-x", weight=1)])
    naming = Naming(project="mlpipe", env="staging", suffix="blue")
    (problem,) = validate_serving("staging", "us-east-1", config, naming)
    assert problem.startswith(
        "environment 'staging', field 'sagemaker.variants.0.name': sagemaker name for component "
        "'model-champion-model-with-long-name-x-00000000'"
    )


def _names_with_referenced_key_and_bucket(outdir: Path, unrelated_tokens: int) -> tuple[str, str]:
    """(endpoint config name, model A name) when the key and bucket are resources of the stack, i.e. tokens."""
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "serving")
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    for i in range(unrelated_tokens):  # shifts the numbering of every later token
        aws.sns_topic.SnsTopic(stack, f"unrelated-{i}").arn  # noqa: B018
    key = aws.kms_key.KmsKey(stack, "ml-key")
    bucket = aws.s3_bucket.S3Bucket(stack, "artifacts", bucket=BUCKET)
    serving = ModelServing(
        stack,
        "serving",
        serving_props(
            sagemaker=two_variants(url_a=None), ml_key_arn=key.arn, bucket=BucketRef(name=bucket.bucket, arn=bucket.arn)
        ),
    )
    return serving.endpoint_config_name, serving.model_names["A"]


def test_content_names_do_not_depend_on_token_numbering(tmp_path):
    assert _names_with_referenced_key_and_bucket(tmp_path / "a", 0) == _names_with_referenced_key_and_bucket(
        tmp_path / "b", 3
    )
