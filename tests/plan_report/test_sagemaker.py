"""SageMaker: the endpoint-update guard, the config roll, and capacity changes with an estimated cost."""

import copy
import json

import pytest

from tests.plan_report.plans import SYNTH, change, fixture, plan, run, write
from tools.plan_report.sagemaker import prices

ENDPOINT = "aws_sagemaker_endpoint.model-serving_endpoint_C0C0C0C0"
CONFIG = "aws_sagemaker_endpoint_configuration.model-serving_endpoint-config_74B59EC6"
TARGET_B = "aws_appautoscaling_target.model-serving_scaling-B_target_A1A1A1AB"


def report(capsys, tmp_path, document, *args):
    summary = tmp_path / "summary.json"
    result = run(capsys, write(tmp_path, document), "--synth", SYNTH, "--summary", summary, *args)
    return result, json.loads(summary.read_text())


def kinds(summary: dict) -> list[tuple[str, str, bool]]:
    return [(f["kind"], f["address"], f in summary["blocking"]) for f in summary["blocking"] + summary["warnings"]]


def test_changing_an_autoscaled_variant_s_instance_type_blocks(capsys, tmp_path):
    """The real plan: variant B goes from ml.m5.large to ml.c5.xlarge while its scaling target is registered."""
    result, summary = report(capsys, tmp_path, fixture("endpoint-roll"))
    assert result.code == 1
    assert kinds(summary) == [
        ("endpoint-autoscaling-guard", ENDPOINT, True),
        ("endpoint-config-roll", ENDPOINT, False),
    ]
    guard = summary["blocking"][0]["message"]
    assert guard.startswith(
        "the endpoint update changes variant `B` from `ml.m5.large` to `ml.c5.xlarge` while it is registered for "
        "autoscaling (`model-serving/scaling-B/target`): SageMaker refuses UpdateEndpoint"
    )
    assert summary["warnings"][0]["message"].endswith("reset to its initial_variant_weight (`A`=`80`, `B`=`20`)")


def test_the_cost_of_the_change(capsys, tmp_path):
    result, _ = report(capsys, tmp_path, fixture("endpoint-roll"))
    assert "- variant `B`: instance type `ml.m5.large` → `ml.c5.xlarge`; instances `1` → `2`" in result.out
    assert (
        "serving cost: estimated $0.230/h → $0.523/h (+$0.293/h, about +$214 per month); prices: Amazon SageMaker "
        "pricing page, real-time inference, on-demand (https://aws.amazon.com/sagemaker/pricing/), us-east-1, as of "
        "2026-11-22 (verify before use)"
    ) in result.out


def test_no_guard_when_the_target_goes_in_the_same_plan(capsys, tmp_path):
    document = fixture("endpoint-roll")
    target = next(r for r in document["resource_changes"] if r["address"] == TARGET_B)
    target["change"]["actions"] = ["delete"]
    target["change"]["after"] = None
    _, summary = report(capsys, tmp_path, document)
    assert "endpoint-autoscaling-guard" not in [k for k, _, _ in kinds(summary)]


def test_removing_an_autoscaled_variant_blocks(capsys, tmp_path):
    document = fixture("endpoint-roll")
    config = next(r for r in document["resource_changes"] if r["address"] == CONFIG)
    config["change"]["after"]["production_variants"] = config["change"]["before"]["production_variants"][:1]
    _, summary = report(capsys, tmp_path, document)
    (guard,) = summary["blocking"]
    assert guard["message"].startswith("the endpoint update removes variant `B` while it is registered")


def test_a_roll_that_keeps_instance_types_only_warns(capsys, tmp_path):
    """A new model (the model-data change): new config name, same variants."""
    document = fixture("endpoint-roll")
    config = next(r for r in document["resource_changes"] if r["address"] == CONFIG)
    config["change"]["after"]["production_variants"] = copy.deepcopy(config["change"]["before"]["production_variants"])
    result, summary = report(capsys, tmp_path, document)
    assert result.code == 0
    assert kinds(summary) == [("endpoint-config-roll", ENDPOINT, False)]


def test_an_unknown_instance_type_has_no_price(capsys, tmp_path):
    variants = [
        {
            "variant_name": "A",
            "instance_type": "ml.p5.48xlarge",
            "initial_instance_count": 1,
            "initial_variant_weight": 1,
        }
    ]
    config = change(
        "aws_sagemaker_endpoint_configuration.c_1A2B3C4D",
        ["create"],
        None,
        {"name": "c", "production_variants": variants},
    )
    out = run(capsys, write(tmp_path, plan(config))).out
    assert "estimated $0.000/h → price unknown (`ml.p5.48xlarge`)" in out


def test_a_serverless_variant_is_billed_per_use(capsys, tmp_path):
    variants = [
        {
            "variant_name": "S",
            "serverless_config": [{"max_concurrency": 5, "memory_size_in_mb": 2048}],
            "initial_variant_weight": 1,
        }
    ]
    config = change(
        "aws_sagemaker_endpoint_configuration.c_1A2B3C4D",
        ["create"],
        None,
        {"name": "c", "production_variants": variants},
    )
    out = run(capsys, write(tmp_path, plan(config))).out
    assert "variant `S` added: serverless, weight `1`" in out
    assert "serverless variants `S` are billed per use" in out


def test_the_region_prices_the_change(capsys, tmp_path):
    variants = [
        {"variant_name": "A", "instance_type": "ml.m5.large", "initial_instance_count": 2, "initial_variant_weight": 1}
    ]
    config = change(
        "aws_sagemaker_endpoint_configuration.c_1A2B3C4D",
        ["create"],
        None,
        {"name": "c", "production_variants": variants},
    )
    document = plan(config)
    document["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"] = "eu-west-1"
    out = run(capsys, write(tmp_path, document)).out
    assert "estimated $0.000/h → $0.256/h" in out
    assert "eu-west-1, as of 2026-11-22 (verify before use)" in out


def test_the_price_table_states_its_source_and_covers_the_repo_s_types():
    table = prices()
    assert table.source.startswith("Amazon SageMaker pricing page, real-time inference, on-demand")
    assert (table.as_of, table.caveat) == ("2026-11-22", "verify before use")
    for region in ("us-east-1", "eu-west-1"):
        for instance_type in (
            "ml.m5.large",
            "ml.m5.xlarge",
            "ml.m5.2xlarge",
            "ml.c5.large",
            "ml.c5.xlarge",
            "ml.g4dn.xlarge",
            "ml.t2.medium",
        ):
            price = table.hourly(region, instance_type)
            assert price is not None and 0 < price < 5, (region, instance_type)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_prices_grow_with_the_instance_size(region):
    table = prices()
    sizes = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge"]
    assert [table.hourly(region, s) for s in sizes] == sorted(table.hourly(region, s) for s in sizes)


def test_a_config_alone_costs_only_once_served(capsys, tmp_path):
    """Phase one: an endpoint config without an endpoint (here re-created after the emulator lost it)."""
    result, _ = report(capsys, tmp_path, fixture("data-loss"))
    assert "- variant `A` added: `1` of `ml.m5.large`, weight `80`" in result.out
    assert "- cost while an endpoint serves it: estimated $0.000/h → $0.230/h" in result.out
