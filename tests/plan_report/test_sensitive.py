"""Sensitive values never reach any output: not the Markdown, the full report, the summary, nor with --show-values."""

import json

import pytest

from tests.plan_report.plans import SYNTH, change, fixture, plan, run, write

SECRET = "tok-SUPERSECRET"  # the real fixtures carry tok-SUPERSECRET-<n> in a sensitive variable and env var
HIDDEN = "hunter2-DO-NOT-SHOW"


def outputs(capsys, tmp_path, plan_file, *args):
    full, summary = tmp_path / "full.md", tmp_path / "summary.json"
    result = run(capsys, plan_file, "--full", full, "--summary", summary, *args)
    return result, result.out + result.err + full.read_text() + summary.read_text()


@pytest.mark.parametrize("name", ["small", "data-loss", "phase-flip"])
@pytest.mark.parametrize("show_values", [False, True])
def test_real_plans_with_a_sensitive_variable_leak_nothing(capsys, tmp_path, name, show_values):
    document = fixture(name)
    assert SECRET in json.dumps(document)  # it is there to be leaked: variables, env var values, configuration
    plan_file = write(tmp_path, document)
    _, text = outputs(capsys, tmp_path, plan_file, "--synth", SYNTH, *(["--show-values"] if show_values else []))
    assert SECRET not in text
    assert "`environment[0].variables.API_TOKEN` (sensitive)" in text


def sensitive_everywhere() -> dict:
    """The secret in every kind of attribute the domain diffs read, each marked sensitive."""
    definition = json.dumps({"StartAt": HIDDEN, "States": {HIDDEN: {"Type": "Pass", "End": True}}})
    policy = json.dumps({"Statement": [{"Sid": HIDDEN, "Effect": "Allow", "Action": HIDDEN, "Resource": "*"}]})
    return plan(
        change(
            "aws_sfn_state_machine.sm_1A2B3C4D",
            ["update"],
            {"definition": "{}"},
            {"definition": definition},
            before_sensitive={"definition": True},
            after_sensitive={"definition": True},
        ),
        change(
            "aws_iam_role_policy.p_1A2B3C4D",
            ["update"],
            {"policy": "{}"},
            {"policy": policy},
            before_sensitive={"policy": True},
            after_sensitive={"policy": True},
        ),
        change(
            "aws_cloudwatch_event_rule.r_1A2B3C4D",
            ["update"],
            {"schedule_expression": "rate(1 day)"},
            {"schedule_expression": HIDDEN},
            after_sensitive={"schedule_expression": True},
        ),
        change(
            "aws_lambda_function.f_1A2B3C4D",
            ["update"],
            {"environment": [{"variables": {"ENDPOINTS_ENABLED": "false", "TOKEN": "a"}}]},
            {"environment": [{"variables": {"ENDPOINTS_ENABLED": HIDDEN, "TOKEN": HIDDEN}}]},
            after_sensitive={"environment": [{"variables": True}]},
        ),
        change(
            "aws_sagemaker_endpoint_configuration.c_1A2B3C4D",
            ["create"],
            None,
            {"name": "c", "production_variants": [{"variant_name": "A", "instance_type": HIDDEN}]},
            after_sensitive={"production_variants": True},
        ),
        change(
            "aws_s3_bucket.b_1A2B3C4D",
            ["update"],
            {"force_destroy": False, "bucket": "b"},
            {"force_destroy": True, "bucket": HIDDEN},
            after_sensitive={"bucket": True},
        ),
        variables={"token": {"value": HIDDEN}},
        prior_state={
            "format_version": "1.0",
            "values": {
                "root_module": {
                    "resources": [
                        {
                            "address": "aws_appautoscaling_target.t_1A2B3C4D",
                            "mode": "managed",
                            "type": "aws_appautoscaling_target",
                            "values": {"resource_id": HIDDEN},
                            "sensitive_values": {"resource_id": True},
                        }
                    ]
                }
            },
        },
    )


@pytest.mark.parametrize("show_values", [False, True])
def test_sensitive_attributes_are_never_shown_even_in_domain_diffs(capsys, tmp_path, show_values):
    plan_file = write(tmp_path, sensitive_everywhere())
    result, text = outputs(capsys, tmp_path, plan_file, *(["--show-values"] if show_values else []))
    assert result.code == 1  # force_destroy still blocks: a sensitive neighbour hides nothing that matters
    assert HIDDEN not in text
    assert "definition: sensitive, not shown" in text
    assert "`policy`: sensitive, not shown" in text
    assert "`schedule_expression`: sensitive, not shown" in text
    assert "`ENDPOINTS_ENABLED` changed (sensitive value)" in text
