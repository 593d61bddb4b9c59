"""Observability (ARCHITECTURE §7): an alarm on everything that can fail, one dashboard, a budget, alerts that reach
people. The sweeps run over every environment stack in both phases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constructs.alarms import STAGES, AlarmSpec, build_alarm, spec_problems
from constructs.monitoring import RUNBOOK_SECTIONS, BudgetSettings, https_subscription_id
from constructs.tables import DATA_PLANE_OPERATIONS
from lambda_src.mlp_common import metric_names
from tests.support.synth import of_type, path_of, ref_id

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "staging", "prod")
# What must be watched, and the dimension (or dimensions) by which an alarm names it.
WATCHED: dict[str, tuple[str, str]] = {
    "aws_lambda_function": ("FunctionName", "function_name"),
    "aws_sqs_queue": ("QueueName", "name"),
    "aws_dynamodb_table": ("TableName", "name"),
    "aws_kinesis_stream": ("StreamName", "name"),
    "aws_sfn_state_machine": ("StateMachineArn", "arn"),
}


@pytest.fixture(scope="module", params=["phase one", "phase two"])
def phase(request, synthesized, phase_two):
    return request.param, synthesized if request.param == "phase one" else phase_two


def _stacks(phase) -> Iterator[tuple[str, dict[str, Any]]]:
    _, synth = phase
    for env in ENVS:
        yield env, synth.stack(f"ml-pipeline-{env}")


def _metric_dimensions(alarm: dict[str, Any]) -> list[dict[str, str]]:
    """The dimensions of every metric an alarm reads (plain, metric math or anomaly detection)."""
    if "dimensions" in alarm:
        return [alarm["dimensions"]]
    return [q["metric"]["dimensions"] for q in alarm["metric_query"] if "metric" in q]


def _names(rtype: str, body: dict[str, Any], attribute: str) -> set[str]:
    """How a dimension value can name a resource: its literal attribute, or a reference to it."""
    values = {f"${{{rtype}.{ref_id(body)}.{attribute}}}"}
    if isinstance(body.get(attribute), str):
        values.add(body[attribute])
    return values


def _alerts_topic(stack: dict[str, Any]) -> str:
    (topic_id,) = [i for i, b in of_type(stack, "aws_sns_topic").items() if path_of(b).endswith("/alerts/topic")]
    return f"${{aws_sns_topic.{topic_id}.arn}}"


def _alarms_naming(stack: dict[str, Any], matches) -> list[dict[str, Any]]:
    topic = _alerts_topic(stack)
    return [
        alarm
        for alarm in of_type(stack, "aws_cloudwatch_metric_alarm").values()
        if topic in alarm["alarm_actions"] and any(matches(d) for d in _metric_dimensions(alarm))
    ]


def test_every_function_queue_table_stream_and_state_machine_has_an_alarm_to_the_alerts_topic(phase):
    for env, stack in _stacks(phase):
        for rtype, (dimension, attribute) in WATCHED.items():
            resources = of_type(stack, rtype)
            assert resources, (env, rtype)
            for body in resources.values():
                names = _names(rtype, body, attribute)
                alarms = _alarms_naming(stack, lambda d, names=names, dimension=dimension: d.get(dimension) in names)
                assert alarms, f"{env}: {rtype} {path_of(body)} has no alarm notifying the alerts topic"


def test_every_api_stage_has_error_latency_and_request_count_alarms(phase):
    for env, stack in _stacks(phase):
        (api,) = of_type(stack, "aws_api_gateway_rest_api").values()
        for stage in of_type(stack, "aws_api_gateway_stage").values():
            alarms = _alarms_naming(
                stack, lambda d, s=stage, a=api: d.get("ApiName") == a["name"] and d.get("Stage") == s["stage_name"]
            )
            metrics = sorted(a.get("metric_name") or a["metric_query"][0]["metric"]["metric_name"] for a in alarms)
            assert metrics == ["5XXError", "Count", "Latency"], env


def test_every_variant_has_latency_and_5xx_alarms_in_phase_two_only(phase):
    name, _ = phase
    for env, stack in _stacks(phase):
        endpoints = of_type(stack, "aws_sagemaker_endpoint")
        variant_alarms = _alarms_naming(stack, lambda d: "VariantName" in d)
        if name == "phase one":
            assert endpoints == {} and variant_alarms == []
            continue
        (endpoint,) = endpoints.values()
        (config,) = of_type(stack, "aws_sagemaker_endpoint_configuration").values()
        for variant in config["production_variants"]:
            alarms = _alarms_naming(
                stack,
                lambda d, v=variant, e=endpoint: (
                    d.get("EndpointName") == e["name"] and d.get("VariantName") == v["variant_name"]
                ),
            )
            assert sorted(a["metric_name"] for a in alarms) == ["Invocation5XXErrors", "ModelLatency"], env


def test_waf_blocks_are_alarmed_exactly_where_waf_is_on(phase):
    for env, stack in _stacks(phase):
        acls = of_type(stack, "aws_wafv2_web_acl")
        blocked = [
            a
            for a in of_type(stack, "aws_cloudwatch_metric_alarm").values()
            if a.get("metric_name") == "BlockedRequests"
        ]
        if not acls:
            assert blocked == [], env
            continue
        (acl_id, acl), (alarm,) = next(iter(acls.items())), blocked
        assert acl["visibility_config"]["metric_name"] == acl["name"]  # WebACL dimension = the ACL's metric name
        assert alarm["dimensions"] == {
            "WebACL": f"${{aws_wafv2_web_acl.{acl_id}.name}}",
            "Region": "us-east-1",
            "Rule": "ALL",
        }


def test_every_alarm_says_what_to_check_first_and_notifies_on_alarm_and_recovery(phase):
    for env, stack in _stacks(phase):
        topic = _alerts_topic(stack)
        alarms = of_type(stack, "aws_cloudwatch_metric_alarm")
        names = [a["alarm_name"] for a in alarms.values()]
        assert len(names) == len(set(names)), env
        for alarm in alarms.values():
            assert "Check first:" in alarm["alarm_description"], alarm["alarm_name"]
            assert alarm["alarm_actions"][0] == topic and alarm["ok_actions"] == [topic], alarm["alarm_name"]
            assert re.fullmatch(rf"mlpipe-[a-z0-9-]+-{env}", alarm["alarm_name"])


def test_alarm_counts_per_stack(synthesized, phase_two):
    # 7 functions x 4, 3 tables x 2, 2 workflows x 3, API 3, stream 2 + on-failure queue, event-rules DLQ, drift
    base = 28 + 6 + 6 + 3 + 3 + 1 + 1
    for synth, variants in ((synthesized, 0), (phase_two, 4)):
        counts = {env: len(of_type(synth.stack(f"ml-pipeline-{env}"), "aws_cloudwatch_metric_alarm")) for env in ENVS}
        assert counts == {"dev": base + variants, "staging": base + variants, "prod": base + 1 + variants}


def test_dynamodb_alarms_sum_every_data_plane_operation(synthesized):
    stack = synthesized.stack("ml-pipeline-dev")
    alarm = next(
        a
        for a in of_type(stack, "aws_cloudwatch_metric_alarm").values()
        if a["alarm_name"] == "mlpipe-table-predictions-system-errors-dev"
    )
    queries = alarm["metric_query"]
    assert [q["id"] for q in queries] == [f"m{i}" for i in range(1, 11)] + ["total"]
    assert queries[-1] == {
        "id": "total",
        "expression": "SUM(METRICS())",
        "label": "SystemErrors (sum)",
        "return_data": True,
    }
    operations = [q["metric"]["dimensions"]["Operation"] for q in queries[:-1]]
    assert "BatchWriteItem" in operations and "UpdateItem" in operations and len(set(operations)) == 10
    assert all(q["return_data"] is False and q["metric"]["stat"] == "Sum" for q in queries[:-1])
    assert alarm["threshold"] == 0 and alarm["comparison_operator"] == "GreaterThanThreshold"
    assert "namespace" not in alarm and "dimensions" not in alarm


def test_request_count_anomaly_detection_alarm(synthesized):
    stack = synthesized.stack("ml-pipeline-dev")
    alarm = next(
        a
        for a in of_type(stack, "aws_cloudwatch_metric_alarm").values()
        if a["alarm_name"] == "mlpipe-api-request-count-anomaly-dev"
    )
    assert alarm["comparison_operator"] == "LessThanLowerOrGreaterThanUpperThreshold"
    assert alarm["threshold_metric_id"] == "band" and "threshold" not in alarm
    (metric, band) = alarm["metric_query"]
    assert band == {
        "id": "band",
        "expression": "ANOMALY_DETECTION_BAND(m1, 3)",
        "label": "Count (expected)",
        "return_data": True,
    }
    assert metric["metric"] == {
        "namespace": "AWS/ApiGateway",
        "metric_name": "Count",
        "dimensions": {"ApiName": "mlpipe-api-dev", "Stage": "v1"},
        "period": 300,
        "stat": "Sum",
    }
    assert metric["return_data"] is True


def test_function_duration_alarm_is_near_each_functions_own_timeout(synthesized):
    stack = synthesized.stack("ml-pipeline-dev")
    alarms = {a["alarm_name"]: a for a in of_type(stack, "aws_cloudwatch_metric_alarm").values()}
    for body in of_type(stack, "aws_lambda_function").values():
        key = path_of(body).split("/")[2]
        alarm = alarms[f"mlpipe-{key}-duration-dev"]
        assert alarm["threshold"] == body["timeout"] * 1000 * 0.8, key
        assert (alarm["metric_name"], alarm["statistic"]) == ("Duration", "Maximum")


def test_data_drift_alarm_reads_the_metric_preprocess_emits(synthesized):
    stack = synthesized.stack("ml-pipeline-dev")
    alarm = next(
        a for a in of_type(stack, "aws_cloudwatch_metric_alarm").values() if a["alarm_name"] == "mlpipe-data-drift-dev"
    )
    assert (alarm["namespace"], alarm["metric_name"], alarm["dimensions"]) == (
        "MlPipeline",
        metric_names.DATA_DRIFT,
        {metric_names.DIMENSION: "dev"},
    )
    assert (alarm["statistic"], alarm["threshold"]) == ("Maximum", 3.0)


def test_handlers_name_their_metrics_only_through_the_shared_constants():
    emitted = re.compile(r"Metric\(\s*\"")
    for path in (ROOT / "lambda_src").glob("*/*.py"):
        assert not emitted.search(path.read_text()), f"{path}: metric name not from mlp_common.metric_names"
        assert '"Environment"' not in path.read_text() or path.name == "metric_names.py", path


# --- the traffic-shift function waits out endpoint updates ------------------------------------------------------


def test_traffic_shift_waits_within_its_timeout_and_its_async_events_live_six_hours(synthesized):
    stack = synthesized.stack("ml-pipeline-dev")
    (config,) = of_type(stack, "aws_lambda_function_event_invoke_config").values()
    shift_id, shift = next(
        (i, b)
        for i, b in of_type(stack, "aws_lambda_function").items()
        if b["function_name"] == "mlpipe-traffic-shift-dev"
    )
    assert config["function_name"] == f"${{aws_lambda_function.{shift_id}.function_name}}"
    assert (config["maximum_event_age_in_seconds"], config["maximum_retry_attempts"]) == (21_600, 2)
    variables = shift["environment"]["variables"]
    assert (variables["ENDPOINT_WAIT_SECONDS"], variables["ENDPOINT_POLL_SECONDS"]) == ("600", "15")
    assert shift["timeout"] == 660  # the wait plus a minute to shift
    others = [b["timeout"] for b in of_type(stack, "aws_lambda_function").values() if b is not shift]
    assert set(others) == {30}


# --- dashboard ---------------------------------------------------------------------------------------------------


def _dashboard(stack: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = of_type(stack, "aws_cloudwatch_dashboard").values()
    return dashboard


def _named_anywhere(stack: dict[str, Any]) -> set[str]:
    """Every name a dimension may carry: literal names and references to each resource's name/arn attributes."""
    names: set[str] = set()
    for rtype, resources in stack["resource"].items():
        for rid, body in resources.items():
            for attribute in ("name", "function_name", "arn", "stage_name", "variant_name"):
                names.add(f"${{{rtype}.{rid}.{attribute}}}")
                if isinstance(body.get(attribute), str):
                    names.add(body[attribute])
            for variant in (
                body.get("production_variants", []) if rtype == "aws_sagemaker_endpoint_configuration" else []
            ):
                names.add(variant["variant_name"])
    return names


def test_dashboard_rows_follow_the_pipeline_and_every_metric_names_an_existing_resource(phase):
    name, _ = phase
    for env, stack in _stacks(phase):
        dashboard = _dashboard(stack)
        assert dashboard["dashboard_name"] == f"mlpipe-pipeline-{env}"
        body = json.loads(dashboard["dashboard_body"])
        widgets = body["widgets"]
        runbook = widgets[0]
        assert runbook["type"] == "text" and all(s in runbook["properties"]["markdown"] for s in RUNBOOK_SECTIONS)
        headings = [w["properties"]["markdown"] for w in widgets[1:] if w["type"] == "text"]
        order = [next(s for s in STAGES if h.lower().startswith(f"## {s}")) for h in headings]
        assert order == list(STAGES), env  # every stage has a row, in pipeline order
        # besides resources: the environment (our metrics), WAF's Rule=ALL and region, DynamoDB's operations
        names = _named_anywhere(stack) | {env, "ALL", "us-east-1", *DATA_PLANE_OPERATIONS}
        for widget in widgets:
            if widget["type"] != "metric":
                continue
            props = widget["properties"]
            assert props["region"] == "us-east-1"
            for row in props["metrics"]:
                if isinstance(row[0], dict):
                    continue  # an expression (the anomaly band)
                dimensions = row[2:-1]
                for value in dimensions[1::2]:
                    assert value in names, f"{env}: widget {props['title']} names {value!r}, no such resource"
        serving_graphs = [
            w
            for w in widgets
            if w["type"] == "metric" and any(r[0] == "AWS/SageMaker" for r in w["properties"]["metrics"])
        ]
        assert (len(serving_graphs) == 4) == (name == "phase two") and (serving_graphs == []) == (name == "phase one")
        # widgets never overlap
        cells = set()
        for widget in widgets:
            for x in range(widget["x"], widget["x"] + widget["width"]):
                for y in range(widget["y"], widget["y"] + widget["height"]):
                    assert (x, y) not in cells
                    cells.add((x, y))


def test_runbook_sections_exist_in_the_readme():
    headings = {
        line.lstrip("#").strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("#")
    }
    assert set(RUNBOOK_SECTIONS) <= headings


# --- budget ------------------------------------------------------------------------------------------------------


def test_monthly_budget_per_environment_notifies_the_alerts_topic(synthesized):
    stack = synthesized.stack("ml-pipeline-prod")
    (budget,) = of_type(stack, "aws_budgets_budget").values()
    topic = _alerts_topic(stack)
    budget.pop("//")
    assert budget == {
        "name": "mlpipe-monthly-prod",
        "budget_type": "COST",
        "limit_amount": "5000.00",
        "limit_unit": "USD",
        "time_unit": "MONTHLY",
        "cost_filter": [{"name": "TagKeyValue", "values": ["user:Environment$prod"]}],
        "notification": [
            {
                "comparison_operator": "GREATER_THAN",
                "notification_type": kind,
                "threshold": percent,
                "threshold_type": "PERCENTAGE",
                "subscriber_sns_topic_arns": [topic],
            }
            for kind, percent in (("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100))
        ],
    }


@pytest.mark.parametrize(
    ("percents", "message"),
    [
        ([100, 80], "percents between 1 and 1000, each once, ascending"),
        ([80, 80], "percents between 1 and 1000, each once, ascending"),
        ([0], "percents between 1 and 1000, each once, ascending"),
        (list(range(10, 110, 10)), "at most 9 (a budget has at most 10 notifications, one is the forecast)"),
    ],
)
def test_budget_percents_are_refused_when_aws_would(percents, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BudgetSettings(actual_alert_percents=percents)


# --- subscribers -------------------------------------------------------------------------------------------------


def test_https_subscription_ids_never_carry_the_webhook_path():
    url = "https://hooks.chat.example.com/services/T000/B000/secret-token"
    sid = https_subscription_id(url)
    assert sid.startswith("https-hooks-chat-example-com-") and "secret" not in sid and len(sid) == 37


def test_alerts_reach_email_and_https_subscribers(synthesized):
    stack = synthesized.stack("ml-pipeline-prod")
    topic = _alerts_topic(stack)
    subscriptions = sorted(
        (s["protocol"], s["endpoint"])
        for s in of_type(stack, "aws_sns_topic_subscription").values()
        if s["topic_arn"] == topic
    )
    assert subscriptions == [
        ("email", "ml-platform-oncall@example.com"),
        ("https", "https://events.pagerduty.example.com/integration/mlpipe-prod/enqueue"),
    ]


# --- the spec rules ----------------------------------------------------------------------------------------------


def _spec(**changes: Any) -> AlarmSpec:
    fields: dict[str, Any] = {
        "id": "x",
        "name": "x",
        "description": "Check first: x",
        "stage": "data",
        "namespace": "AWS/DynamoDB",
        "metric_name": "SystemErrors",
        "dimensions": {"TableName": "t"},
        "threshold": 0,
        "comparison": "GreaterThanThreshold",
        "period": 300,
        "evaluation_periods": 1,
        "statistic": "Sum",
    }
    return AlarmSpec(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"statistic": None}, "set exactly one of statistic and extended_statistic"),
        ({"extended_statistic": "p99"}, "set exactly one of statistic and extended_statistic"),
        ({"sum_over": tuple({"Operation": str(i)} for i in range(11))}, "a metric-math alarm reads at most 10"),
        ({"anomaly_band": 2.0}, "anomaly detection needs a band comparison"),
        ({"comparison": "GreaterThanUpperThreshold"}, "anomaly detection needs a band comparison"),
        ({"period": 90}, "need a multiple of 60 s"),
        ({"datapoints_to_alarm": 2}, "datapoints_to_alarm must be between 1 and evaluation_periods"),
        ({"period": 3600, "evaluation_periods": 25}, "must not exceed one day"),
    ],
)
def test_alarm_specs_cloudwatch_would_refuse_are_refused_at_synth(changes, problem):
    problems = spec_problems(_spec(**changes))
    assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("alarm x: ")
    with pytest.raises(ValueError, match=re.escape(problem)):
        build_alarm(None, None, _spec(**changes), alarm_actions=[], ok_actions=[])  # type: ignore[arg-type]


def test_a_valid_spec_has_no_problems():
    assert spec_problems(_spec()) == []
    assert spec_problems(_spec(sum_over=tuple({"Operation": str(i)} for i in range(10)))) == []


def _readme_alarm_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Alarms: what each one means and what to check first", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9<>-]+)` \|", section, flags=re.MULTILINE)


def test_the_readme_explains_every_alarm_and_no_alarm_that_does_not_exist(synthesized, phase_two):
    rows = _readme_alarm_rows()
    patterns = {row: re.compile(re.sub(r"<[a-z]+>", "[a-z0-9-]+", row)) for row in rows}
    used = set()
    for synth in (synthesized, phase_two):
        for env in ENVS:
            for alarm in of_type(synth.stack(f"ml-pipeline-{env}"), "aws_cloudwatch_metric_alarm").values():
                name = alarm["alarm_name"].removeprefix("mlpipe-").removesuffix(f"-{env}")
                matching = [row for row, pattern in patterns.items() if pattern.fullmatch(name)]
                assert matching, f"README has no row for alarm {name}"
                used.update(matching)
    assert used == set(rows), f"README rows for alarms that do not exist: {set(rows) - used}"
