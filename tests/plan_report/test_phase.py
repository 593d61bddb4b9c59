"""The phase flag: said first, what it adds, and blocking when the flip is not additive."""

import json

from tests.plan_report.plans import FIXTURES, STACK, SYNTH, change, fixture, plan, run, write

CONFIG = "aws_sagemaker_endpoint_configuration.model-serving_endpoint-config_74B59EC6"


def report(capsys, tmp_path, document):
    summary = tmp_path / "summary.json"
    result = run(capsys, write(tmp_path, document), "--synth", SYNTH, "--summary", summary)
    return result, json.loads(summary.read_text())


def test_the_flip_is_said_first(capsys, tmp_path):
    result, summary = report(capsys, tmp_path, fixture("phase-flip"))
    first = result.out.split("\n")[3]
    assert first.startswith(
        "> **Phase flag: `endpoints_enabled` false → true in `ml-pipeline-dev`.** Additive: it adds 3, updates 2 in "
        "place and deletes or replaces nothing."
    )
    assert result.out.index("Phase flag") < result.out.index("### Summary")
    assert summary["stacks"][STACK]["phase_flag"] == {"from": "false", "to": "true"}


def test_an_additive_flip_lists_what_it_adds_and_does_not_block(capsys, tmp_path):
    result, summary = report(capsys, tmp_path, fixture("phase-flip"))
    assert result.code == 0
    assert summary["blocking"] == []
    head = result.out.split("### Summary")[0]
    assert (
        "> - evidence: `functions/inference/function`: `ENDPOINTS_ENABLED` false → true; "
        "`model-serving/endpoint`: endpoint created" in head
    )
    assert (
        "> - adds: `model-serving/endpoint` (`aws_sagemaker_endpoint`), `model-serving/scaling-A/target` "
        "(`aws_appautoscaling_target`), `model-serving/scaling-B/target` (`aws_appautoscaling_target`)" in head
    )
    assert "starts serving: estimated $0.000/h → $0.230/h (+$0.230/h, about +$168 per month)" in head


def test_a_flip_that_replaces_something_blocks_at_that_address(capsys, tmp_path):
    """The real phase-two plan from the emulator, whose endpoint config came back with an empty data capture
    config and so must be replaced."""
    document = fixture("phase-flip")
    (config,) = [r for r in document["resource_changes"] if r["address"] == CONFIG]
    config["change"]["actions"] = ["create", "delete"]
    config["action_reason"] = "replace_because_cannot_update"
    config["change"]["replace_paths"] = [["data_capture_config"]]
    result, summary = report(capsys, tmp_path, document)
    assert result.code == 1
    assert [(b["kind"], b["address"]) for b in summary["blocking"]] == [("phase-flip-not-additive", CONFIG)]
    assert "**Not additive (blocking):** it deletes or replaces 1 (`model-serving/endpoint-config`)" in result.out


def test_switching_serving_off_is_a_flip_that_deletes(capsys, tmp_path):
    function = "aws_lambda_function.functions_inference_function_34C9F1CD"
    endpoint = "aws_sagemaker_endpoint.model-serving_endpoint_C0C0C0C0"
    variables = {"ENDPOINTS_ENABLED": "true"}
    document = plan(
        change(function, ["update"], {"environment": [{"variables": variables}]}, {"environment": [{"variables": {}}]}),
        change(endpoint, ["delete"], {"name": "e", "endpoint_config_name": "c"}, None),
    )
    document["resource_changes"][0]["change"]["after"]["environment"][0]["variables"]["ENDPOINTS_ENABLED"] = "false"
    result, summary = report(capsys, tmp_path, document)
    assert summary["stacks"][STACK]["phase_flag"] == {"from": "true", "to": "false"}
    assert sorted(b["kind"] for b in summary["blocking"]) == ["phase-flip-not-additive", "stateful"]
    assert result.out.split("\n")[3].startswith("> **Phase flag: `endpoints_enabled` true → false in")


def test_no_flip_no_phase_section(capsys, tmp_path):
    result, summary = report(capsys, tmp_path, fixture("data-loss"))
    assert "Phase flag" not in result.out
    assert summary["stacks"][STACK]["phase_flag"] is None


def test_the_real_phase_two_plan_of_the_dev_stack(capsys, tmp_path):
    """ml-pipeline-dev as this repository synthesizes it, applied in phase one on the emulator, planned in phase two:
    additive, said first, the endpoint's cost named, the provider's refresh noise left out of the drift."""
    summary = tmp_path / "summary.json"
    plan_file = write(tmp_path, fixture("dev-phase-two"))
    result = run(capsys, plan_file, "--synth", FIXTURES / "dev-synth", "--summary", summary)
    document = json.loads(summary.read_text())
    assert result.code == 0
    assert document["stacks"][STACK]["phase_flag"] == {"from": "false", "to": "true"}
    assert document["stacks"][STACK]["counts"]["create"] == 13
    assert document["stacks"][STACK]["counts"]["update"] == 7
    assert document["stacks"][STACK]["drift"] == 0
    assert result.out.split("\n")[3].startswith(
        "> **Phase flag: `endpoints_enabled` false → true in `ml-pipeline-dev`.** Additive: it adds 13, updates 7 in "
        "place and deletes or replaces nothing."
    )
    assert (
        "`model-serving/endpoint` (`aws_sagemaker_endpoint.model-serving_endpoint_26F14D53`): starts serving: "
        "estimated $0.000/h → $0.230/h" in result.out
    )
    assert "- `policy` · `InvokeEndpoint` (Allow) added: actions `sagemaker:InvokeEndpoint`" in result.out
    assert "only swap empty values" in result.out
