"""Safe rollout of a new model or endpoint config (ARCHITECTURE §6): SageMaker deployment guardrails on the phase-two
endpoint (blue/green with canary, linear or all-at-once traffic shifting, baking periods, auto-rollback on the variant
alarms), and the rules that refuse what SageMaker cannot run."""

import copy
from typing import Any

import pytest

from constructs.alarms import AlarmsSettings
from constructs.serving_endpoint import variant_alarm_specs
from constructs.serving_rules import (
    MAX_ROLLBACK_ALARMS,
    ROLLBACK_ALARM_DETECTION_SECONDS,
    ROLLBACK_ALARMS_PER_VARIANT,
    RolloutSettings,
    SageMakerSettings,
    VariantSettings,
    validate_serving,
)
from tests.support.synth import by_path, of_type, ref_id
from tests.unit.test_config_bad_input import document, problems_of  # noqa: F401  (document: fixture)
from tests.unit.test_model_serving import (  # noqa: F401  (phase_one, phase_two, synth_with: fixtures)
    NAMING,
    URL_A,
    phase_one,
    phase_two,
    synth_with,
    two_variants,
)

SERVERLESS_REFUSED = (
    "environment 'dev', field 'sagemaker.rollout.mode': 'canary' needs SageMaker deployment guardrails (traffic "
    "shifting, baking periods, auto-rollback), which Serverless Inference does not support (variant A is serverless); "
    "set rollout.mode to 'none' for a serverless endpoint"
)
VARIANT_ALARMS = {
    "mlpipe-endpoint-a-latency-p99-dev",
    "mlpipe-endpoint-a-5xx-dev",
    "mlpipe-endpoint-b-latency-p99-dev",
    "mlpipe-endpoint-b-5xx-dev",
}


def endpoint(stack: dict[str, Any]) -> dict[str, Any]:
    return by_path(stack, "aws_sagemaker_endpoint", "/serving/endpoint")


def serverless(**rollout: Any) -> SageMakerSettings:
    """One serverless variant, with the features Serverless Inference lacks turned off."""
    return SageMakerSettings(
        network_isolation=False,
        data_capture_enabled=False,
        variants=[VariantSettings(name="A", weight=1, model_data_url=URL_A, serverless_memory_mb=2048)],
        rollout=RolloutSettings(**rollout),
    )


def rollback_alarms(config: dict[str, Any]) -> list[str]:
    return [alarm["alarm_name"] for alarm in config["auto_rollback_configuration"]["alarms"]]


def problems(rollout: dict[str, Any], variants: int = 2) -> list[str]:
    config = SageMakerSettings(
        variants=[VariantSettings(name=f"V{i}", weight=1) for i in range(variants)],
        rollout=RolloutSettings.model_validate(rollout),
    )
    return validate_serving("dev", "us-east-1", config)


def with_rollout(document: dict[str, Any], rollout: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """The committed cdktf.json with dev's rollout settings replaced."""
    context = copy.deepcopy(document["context"])
    context["environments"]["dev"]["sagemaker"]["rollout"] = rollout
    return context


# --- the endpoint's deployment config (phase two) --------------------------------------------------------------------


def test_rollout_defaults_are_a_guarded_canary():
    assert RolloutSettings().model_dump() == {
        "mode": "canary",
        "canary_percent": 10,
        "linear_step_percent": 20,
        "wait_seconds": 300,
        "max_execution_timeout_seconds": 3600,
        "termination_wait_seconds": 0,
        "auto_rollback": True,
    }
    assert SageMakerSettings().rollout == RolloutSettings()


def test_phase_two_endpoint_rolls_out_by_canary_with_rollback_on_every_variant_alarm(phase_two):  # noqa: F811
    config = endpoint(phase_two)["deployment_config"]
    assert config == {
        "blue_green_update_policy": {
            "traffic_routing_configuration": {
                "type": "CANARY",
                "canary_size": {"type": "CAPACITY_PERCENT", "value": 10},
                "wait_interval_in_seconds": 300,
            },
            "maximum_execution_timeout_in_seconds": 3600,
            "termination_wait_in_seconds": 0,
        },
        "auto_rollback_configuration": {
            "alarms": [
                {"alarm_name": "mlpipe-endpoint-a-latency-p99-dev"},
                {"alarm_name": "mlpipe-endpoint-a-5xx-dev"},
                {"alarm_name": "mlpipe-endpoint-b-latency-p99-dev"},
                {"alarm_name": "mlpipe-endpoint-b-5xx-dev"},
            ]
        },
    }


def test_phase_two_endpoint_rolls_out_linearly_with_the_configured_steps_and_waits(synth_with):  # noqa: F811
    rollout = RolloutSettings(
        mode="linear",
        linear_step_percent=25,
        wait_seconds=600,
        max_execution_timeout_seconds=7200,
        termination_wait_seconds=120,
    )
    stack = synth_with(two_variants(rollout=rollout), endpoints_enabled=True)
    config = endpoint(stack)["deployment_config"]
    assert config == {
        "blue_green_update_policy": {
            "traffic_routing_configuration": {
                "type": "LINEAR",
                "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 25},
                "wait_interval_in_seconds": 600,
            },
            "maximum_execution_timeout_in_seconds": 7200,
            "termination_wait_in_seconds": 120,
        },
        "auto_rollback_configuration": {"alarms": [{"alarm_name": name} for name in rollback_alarms(config)]},
    }
    assert set(rollback_alarms(config)) == VARIANT_ALARMS


def test_all_at_once_without_rollback_has_a_baking_period_and_no_rollback_alarms(synth_with):  # noqa: F811
    rollout = RolloutSettings(mode="all_at_once", wait_seconds=60, auto_rollback=False)
    stack = synth_with(two_variants(rollout=rollout), endpoints_enabled=True)
    assert endpoint(stack)["deployment_config"] == {
        "blue_green_update_policy": {
            "traffic_routing_configuration": {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": 60},
            "maximum_execution_timeout_in_seconds": 3600,
            "termination_wait_in_seconds": 0,
        }
    }
    log_group = ref_id(by_path(stack, "aws_cloudwatch_log_group", "/endpoint-logs"))
    assert endpoint(stack)["depends_on"] == [f"aws_cloudwatch_log_group.{log_group}"]


def test_rollback_alarms_are_exactly_the_variant_alarms_of_the_stack(phase_two):  # noqa: F811
    alarms = of_type(phase_two, "aws_cloudwatch_metric_alarm")
    names = rollback_alarms(endpoint(phase_two)["deployment_config"])
    assert len(names) == len(set(names))
    assert set(names) == {alarm["alarm_name"] for alarm in alarms.values()} == VARIANT_ALARMS


def test_the_endpoint_waits_for_its_log_group_and_rollback_alarms(phase_two):  # noqa: F811
    log_group = ref_id(by_path(phase_two, "aws_cloudwatch_log_group", "/endpoint-logs"))
    alarms = of_type(phase_two, "aws_cloudwatch_metric_alarm")
    assert sorted(endpoint(phase_two)["depends_on"]) == sorted(
        [f"aws_cloudwatch_log_group.{log_group}", *(f"aws_cloudwatch_metric_alarm.{i}" for i in alarms)]
    )


def test_phase_one_has_no_endpoint_and_so_no_deployment_config(phase_one):  # noqa: F811
    assert of_type(phase_one, "aws_sagemaker_endpoint") == {}


# --- serverless: SageMaker has no guardrails for it ------------------------------------------------------------------


def test_a_serverless_variant_with_a_guarded_rollout_is_refused():
    assert validate_serving("dev", "us-east-1", serverless()) == [SERVERLESS_REFUSED]


@pytest.mark.parametrize("mode", ["linear", "all_at_once"])
def test_every_guarded_mode_is_refused_for_a_serverless_variant(mode):
    (problem,) = validate_serving("dev", "us-east-1", serverless(mode=mode))
    assert problem.startswith(f"environment 'dev', field 'sagemaker.rollout.mode': '{mode}' needs SageMaker deployment")


def test_the_config_file_refuses_a_serverless_variant_with_the_default_rollout(document):  # noqa: F811
    context = copy.deepcopy(document["context"])
    context["environments"]["dev"]["sagemaker"] = {
        "network_isolation": False,
        "data_capture_enabled": False,
        "variants": [{"name": "A", "weight": 1, "serverless_memory_mb": 2048}],
    }
    assert problems_of(context) == [SERVERLESS_REFUSED]


def test_a_serverless_variant_with_rollout_none_has_no_deployment_config(synth_with):  # noqa: F811
    assert validate_serving("dev", "us-east-1", serverless(mode="none"), NAMING, endpoints_enabled=True) == []
    stack = synth_with(serverless(mode="none"), endpoints_enabled=True)
    assert "deployment_config" not in endpoint(stack)
    log_group = ref_id(by_path(stack, "aws_cloudwatch_log_group", "/endpoint-logs"))
    assert endpoint(stack)["depends_on"] == [f"aws_cloudwatch_log_group.{log_group}"]


def test_an_inf1_variant_with_a_guarded_rollout_is_refused():
    config = SageMakerSettings(variants=[VariantSettings(name="A", weight=1, instance_type="ml.inf1.xlarge")])
    assert validate_serving("dev", "us-east-1", config) == [
        "environment 'dev', field 'sagemaker.rollout.mode': 'canary' is ignored by SageMaker for endpoints on Inf1 "
        "instances (variant A), which fall back to all-at-once traffic shifting without baking period or rollback; "
        "set rollout.mode to 'none' or choose another instance type"
    ]


# --- values SageMaker (or the provider) rejects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (
            {"canary_percent": 0},
            "'sagemaker.rollout.canary_percent': Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"canary_percent": 51},
            "'sagemaker.rollout.canary_percent': Input should be less than or equal to 50 (got 51)",
        ),
        (
            {"mode": "linear", "linear_step_percent": 9},
            "'sagemaker.rollout.linear_step_percent': Input should be greater than or equal to 10 (got 9)",
        ),
        (
            {"mode": "linear", "linear_step_percent": 51},
            "'sagemaker.rollout.linear_step_percent': Input should be less than or equal to 50 (got 51)",
        ),
        ({"wait_seconds": -1}, "'sagemaker.rollout.wait_seconds': Input should be greater than or equal to 0 (got -1)"),
        (
            {"wait_seconds": 3601},
            "'sagemaker.rollout.wait_seconds': Input should be less than or equal to 3600 (got 3601)",
        ),
        (
            {"max_execution_timeout_seconds": 599},
            "'sagemaker.rollout.max_execution_timeout_seconds': Input should be greater than or equal to 600 (got 599)",
        ),
        (
            {"max_execution_timeout_seconds": 14401},
            "'sagemaker.rollout.max_execution_timeout_seconds': Input should be less than or equal to 14400 "
            "(got 14401)",
        ),
        (
            {"termination_wait_seconds": 3601},
            "'sagemaker.rollout.termination_wait_seconds': Input should be less than or equal to 3600 (got 3601)",
        ),
        (
            {"mode": "CANARY"},
            "'sagemaker.rollout.mode': Input should be 'canary', 'linear', 'all_at_once' or 'none' (got 'CANARY')",
        ),
        ({"wait": 300}, "'sagemaker.rollout.wait': unknown key (check the spelling; unknown keys are rejected)"),
    ],
)
def test_out_of_range_rollout_settings_are_refused_naming_the_field(document, rollout, expected):  # noqa: F811
    assert problems_of(with_rollout(document, rollout)) == [f"environment 'dev', field {expected}"]


def test_the_timeout_must_exceed_every_baking_period_and_the_termination_wait():
    # 10 % steps: 10 baking periods of 1200 s = 12000 s, + 600 s before the old fleet goes = 12600 s
    rollout = {
        "mode": "linear",
        "linear_step_percent": 10,
        "wait_seconds": 1200,
        "termination_wait_seconds": 600,
        "max_execution_timeout_seconds": 12600,
    }
    assert problems(rollout) == [
        "environment 'dev', field 'sagemaker.rollout.max_execution_timeout_seconds': must exceed the deployment's "
        "total waiting time of 12600 s (10 baking period(s) of wait_seconds 1200 + termination_wait_seconds 600), or "
        "every deployment times out and rolls back; got 12600"
    ]
    assert problems({**rollout, "max_execution_timeout_seconds": 12601}) == []


@pytest.mark.parametrize(
    ("rollout", "baking_periods"),
    [
        ({"mode": "canary"}, 2),  # canary, then the final baking period
        ({"mode": "linear", "linear_step_percent": 20}, 5),
        ({"mode": "linear", "linear_step_percent": 30}, 4),  # 30 + 30 + 30 + 10
        ({"mode": "linear", "linear_step_percent": 50}, 2),
        ({"mode": "all_at_once"}, 1),
        ({"mode": "none"}, 0),
    ],
)
def test_baking_periods_per_mode(rollout, baking_periods):
    assert RolloutSettings.model_validate(rollout).baking_periods == baking_periods


def test_a_baking_period_too_short_for_the_alarms_is_refused_with_auto_rollback():
    assert problems({"wait_seconds": 299}) == [
        "environment 'dev', field 'sagemaker.rollout.wait_seconds': a baking period of 299 s ends before the variant "
        "alarms can go off (the 5XX alarm needs 300 s), so auto_rollback could never trigger; use at least 300 or set "
        "auto_rollback to false"
    ]
    assert problems({"wait_seconds": 0, "auto_rollback": False}) == []


def test_more_rollback_alarms_than_sagemaker_takes_are_refused():
    assert problems({}, variants=5) == []
    assert problems({}, variants=6) == [
        "environment 'dev', field 'sagemaker.rollout.auto_rollback': 6 variants have 12 rollback alarms (2 each) and "
        "SageMaker takes at most 10 (AutoRollbackConfig); use at most 5 variants or set auto_rollback to false"
    ]
    assert problems({"auto_rollback": False}, variants=6) == []


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        ({"mode": "linear", "canary_percent": 20}, "canary_percent"),
        ({"mode": "canary", "linear_step_percent": 20}, "linear_step_percent"),
        ({"mode": "all_at_once", "canary_percent": 20}, "canary_percent"),
        ({"mode": "none", "wait_seconds": 600}, "wait_seconds"),
        ({"mode": "none", "auto_rollback": False}, "auto_rollback"),
    ],
)
def test_a_setting_the_mode_does_not_read_is_refused(rollout, field):
    assert problems(rollout) == [
        f"environment 'dev', field 'sagemaker.rollout.{field}': has no effect with rollout.mode '{rollout['mode']}'; "
        "remove it or choose the mode it belongs to"
    ]


def test_instance_variants_may_opt_out_of_guardrails_explicitly():
    assert problems({"mode": "none"}) == []


# --- the constants stay in step with the alarms they describe --------------------------------------------------------


def test_rollback_alarm_constants_match_the_variant_alarm_specs():
    specs = variant_alarm_specs("mlpipe-endpoint-dev", "A", AlarmsSettings()).values()
    assert len(specs) == ROLLBACK_ALARMS_PER_VARIANT
    # a breach is visible once datapoints_to_alarm (else every evaluation period) periods have been reported
    assert max(s.period * (s.datapoints_to_alarm or s.evaluation_periods) for s in specs) == (
        ROLLBACK_ALARM_DETECTION_SECONDS
    )
    assert MAX_ROLLBACK_ALARMS == 10
