"""The phase flag (ARCHITECTURE §6): phase one has no endpoint; phase two only adds, on every environment."""

import json
from typing import Any

import pytest

from tests.support.synth import of_type, path_of, resources, with_trained_models

ENVS = ("dev", "staging", "prod")
PHASE_TWO_ONLY = ("aws_sagemaker_endpoint", "aws_appautoscaling_target", "aws_appautoscaling_policy")
# What the flip may change in place, and why. Everything else in phase one must be byte-identical in phase two.
IN_PLACE = {
    ("aws_lambda_function", "environment"): "the functions that call the endpoint learn ENDPOINTS_ENABLED=true",
    ("aws_iam_role_policy", "policy"): "inference, stream_consumer and traffic_shift gain sagemaker actions on the "
    "endpoint ARN only",
    ("aws_cloudwatch_dashboard", "dashboard_body"): "the serving row gains the variants' graphs",
}


@pytest.fixture(scope="module")
def phase_one(synth_variant):
    return synth_variant(lambda c: with_trained_models(c, endpoints_enabled=False))


def _endpoint_alarms(stack) -> dict[str, Any]:
    return {
        k: v for k, v in of_type(stack, "aws_cloudwatch_metric_alarm").items() if v.get("namespace") == "AWS/SageMaker"
    }


@pytest.mark.parametrize("env", ENVS)
def test_phase_one_has_no_endpoint_autoscaling_or_endpoint_alarms(synthesized, phase_one, env):
    for synth in (synthesized, phase_one):  # the committed config and one with trained models
        stack = synth.stack(f"ml-pipeline-{env}")
        for rtype in PHASE_TWO_ONLY:
            assert of_type(stack, rtype) == {}, rtype
        assert _endpoint_alarms(stack) == {}
        assert "endpoint_name" not in stack["output"]
        assert len(of_type(stack, "aws_sagemaker_model")) == 2
        assert len(of_type(stack, "aws_sagemaker_endpoint_configuration")) == 1


@pytest.mark.parametrize("env", ENVS)
def test_phase_two_adds_exactly_the_endpoint_set(phase_two, env):
    stack = phase_two.stack(f"ml-pipeline-{env}")
    (endpoint,) = of_type(stack, "aws_sagemaker_endpoint").values()
    assert endpoint["name"] == f"mlpipe-endpoint-{env}"
    targets = sorted(t["resource_id"] for t in of_type(stack, "aws_appautoscaling_target").values())
    assert targets == [f"endpoint/mlpipe-endpoint-{env}/variant/A", f"endpoint/mlpipe-endpoint-{env}/variant/B"]
    for policy in of_type(stack, "aws_appautoscaling_policy").values():
        spec = policy["target_tracking_scaling_policy_configuration"]
        assert spec["predefined_metric_specification"]["predefined_metric_type"] == (
            "SageMakerVariantInvocationsPerInstance"
        )
    alarms = _endpoint_alarms(stack)
    assert sorted((a["metric_name"], a["dimensions"]["VariantName"]) for a in alarms.values()) == [
        ("Invocation5XXErrors", "A"),
        ("Invocation5XXErrors", "B"),
        ("ModelLatency", "A"),
        ("ModelLatency", "B"),
    ]
    for alarm in alarms.values():
        assert alarm["dimensions"]["EndpointName"] == f"mlpipe-endpoint-{env}"
        assert len(alarm["alarm_actions"]) == 2  # the alerts topic and the traffic-shift function
    assert stack["output"]["endpoint_name"]["value"].startswith("${aws_sagemaker_endpoint.")


def test_endpoint_config_weights_are_integers(phase_two):
    stack = phase_two.stack("ml-pipeline-dev")
    (config,) = of_type(stack, "aws_sagemaker_endpoint_configuration").values()
    weights = {v["variant_name"]: v["initial_variant_weight"] for v in config["production_variants"]}
    assert weights == {"A": 80, "B": 20}
    assert all(isinstance(w, int) for w in weights.values())


@pytest.mark.parametrize("env", ENVS)
def test_phase_two_is_additive(phase_one, phase_two, env):
    before = {(t, i): b for t, i, b in resources(phase_one.stack(f"ml-pipeline-{env}"))}
    after = {(t, i): b for t, i, b in resources(phase_two.stack(f"ml-pipeline-{env}"))}
    missing = sorted(set(before) - set(after))
    assert missing == [], "phase two removed phase-one resources"
    changed = {}
    for key, body in before.items():
        fields = sorted(f for f in set(body) | set(after[key]) if body.get(f) != after[key].get(f))
        if fields:
            changed[key] = fields
    unexplained = {k: f for k, f in changed.items() if any((k[0], field) not in IN_PLACE for field in f)}
    assert unexplained == {}
    # and the in-place changes are exactly the functions' flag and the three endpoint-calling roles
    flipped = sorted(path_of(after[k]).split("/")[2] for k in changed if k[0] == "aws_lambda_function")
    assert flipped == ["inference", "stream-consumer", "traffic-shift"]  # the functions that read the flag
    granted = sorted(path_of(after[k]).split("/")[2] for k in changed if k[0] == "aws_iam_role_policy")
    assert granted == ["inference", "stream-consumer", "traffic-shift"]
    for key in changed:
        if key[0] == "aws_iam_role_policy":
            added = json.dumps(json.loads(after[key]["policy"]))
            assert "sagemaker:" in added and "endpoint/mlpipe-endpoint-" in added


def test_phase_two_refuses_placeholder_models(synth_variant):
    from stacks.config import ConfigError

    def enable_without_models(context):
        context["environments"]["staging"]["endpoints_enabled"] = True

    with pytest.raises(ConfigError, match=r"environment 'staging', field 'endpoints_enabled'"):
        synth_variant(enable_without_models)


def test_turning_autoscaling_off_only_deregisters_the_scaling_targets_and_policies(phase_two, synth_variant):
    """Step 1 (and, reversed, the last step) of the safe sequence for an instance-type or variant change
    (SageMakerSettings.autoscaling_enabled): the plan destroys the targets and policies and touches nothing else."""

    def autoscaling_off(context):
        with_trained_models(context, endpoints_enabled=True)
        for settings in context["environments"].values():
            settings["sagemaker"]["autoscaling_enabled"] = False

    off = synth_variant(autoscaling_off)
    for env in ENVS:
        before = {(t, i): b for t, i, b in resources(phase_two.stack(f"ml-pipeline-{env}"))}
        after = {(t, i): b for t, i, b in resources(off.stack(f"ml-pipeline-{env}"))}
        removed = sorted(rtype for rtype, _ in set(before) - set(after))
        assert removed == ["aws_appautoscaling_policy"] * 2 + ["aws_appautoscaling_target"] * 2, env
        assert set(after) <= set(before), env
        assert {key for key in after if after[key] != before[key]} == set(), env
