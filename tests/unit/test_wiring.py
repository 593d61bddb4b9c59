"""How the environment stack wires the constructs together: the stream mapping, serving rules in the config."""

import pytest

from constructs.serving_rules import XGBOOST_IMAGES
from stacks.config import ConfigError, parse_config
from tests.support.synth import by_path, of_type, ref_id

DEV = "ml-pipeline-dev"


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.stack(DEV)


def test_stream_consumer_mapping_settings(dev):
    mapping = by_path(dev, "aws_lambda_event_source_mapping", "/stream-consumer-mapping/mapping")
    stream = ref_id(by_path(dev, "aws_kinesis_stream", "/streaming/stream"))
    consumer = ref_id(by_path(dev, "aws_lambda_function", "/functions/stream-consumer/function"))
    queue = ref_id(by_path(dev, "aws_sqs_queue", "/stream-consumer-mapping/on-failure"))
    assert mapping["event_source_arn"] == f"${{aws_kinesis_stream.{stream}.arn}}"
    assert mapping["function_name"] == f"${{aws_lambda_function.{consumer}.function_name}}"
    assert mapping["starting_position"] == "LATEST"
    assert (mapping["batch_size"], mapping["maximum_batching_window_in_seconds"]) == (100, 5)
    assert mapping["bisect_batch_on_function_error"] is True
    assert (mapping["maximum_retry_attempts"], mapping["maximum_record_age_in_seconds"]) == (3, 3600)
    assert mapping["parallelization_factor"] == 1
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["destination_config"] == {"on_failure": {"destination_arn": f"${{aws_sqs_queue.{queue}.arn}}"}}


def test_on_failure_queue_is_encrypted_and_the_consumer_may_send_to_it(dev):
    queue = by_path(dev, "aws_sqs_queue", "/stream-consumer-mapping/on-failure")
    ops_key = ref_id(by_path(dev, "aws_kms_key", "/ops-key/key"))
    assert queue["kms_master_key_id"] == f"${{aws_kms_key.{ops_key}.arn}}"
    assert queue["message_retention_seconds"] == 1_209_600
    grant = by_path(dev, "aws_iam_role_policy", "/stream-consumer-mapping/on-failure-grant")
    assert grant["role"].startswith("${aws_iam_role.functions_stream-consumer_role_")
    mapping = by_path(dev, "aws_lambda_event_source_mapping", "/stream-consumer-mapping/mapping")
    assert f"aws_iam_role_policy.{ref_id(grant)}" in mapping["depends_on"]


def test_mapping_settings_come_from_config(synth_variant):
    def tuned(context):
        context["environments"]["dev"]["stream_consumer"] = {"batch_size": 500, "max_retry_attempts": 7}

    mapping = by_path(synth_variant(tuned).stack(DEV), "aws_lambda_event_source_mapping", "/mapping")
    assert (mapping["batch_size"], mapping["maximum_retry_attempts"]) == (500, 7)


def test_every_function_is_wired_with_the_deployed_names(dev):
    names = {f["function_name"] for f in of_type(dev, "aws_lambda_function").values()}
    assert names == {
        "mlpipe-preprocess-dev",
        "mlpipe-inference-dev",
        "mlpipe-stream-consumer-dev",
        "mlpipe-evaluate-dev",
        "mlpipe-traffic-shift-dev",
        "mlpipe-validate-dev",
        "mlpipe-approval-dev",
    }
    inference = by_path(dev, "aws_lambda_function", "/functions/inference/function")
    variables = inference["environment"]["variables"]
    assert variables["ENDPOINT_NAME"] == "mlpipe-endpoint-dev"
    assert variables["ENDPOINTS_ENABLED"] == "false"
    assert variables["PREDICTIONS_TTL_DAYS"] == "7"  # dev config


def _problems(base_context, edit) -> list[str]:
    import json

    context = json.loads(json.dumps(base_context))
    edit(context["environments"]["staging"])
    with pytest.raises(ConfigError) as caught:
        parse_config(context, {})
    return caught.value.problems


def test_nvme_instance_type_is_a_config_error(base_context):
    def nvme(env):
        env["sagemaker"] = {"variants": [{"name": "A", "weight": 1, "instance_type": "ml.g4dn.xlarge"}]}

    [problem] = _problems(base_context, nvme)
    assert problem.startswith("environment 'staging', field 'sagemaker.variants.0.instance_type':")
    assert "ml.g4dn.xlarge" in problem


def test_region_without_builtin_image_needs_an_explicit_one(base_context):
    def far_region(env):
        env["region"] = "mx-central-1"

    problems = _problems(base_context, far_region)
    variants = [p for p in problems if p.startswith("environment 'staging', field 'sagemaker.variants.")]
    assert variants and all("image_uri" in p for p in variants)
    # the training and batch jobs run the same built-in image: the training section is reported too
    assert [p for p in problems if p not in variants] == [
        "environment 'staging', field 'training.image_uri': region 'mx-central-1' has no built-in XGBoost image; set "
        "image_uri explicitly (regions with a built-in image: " + ", ".join(sorted(XGBOOST_IMAGES)) + ")"
    ]
