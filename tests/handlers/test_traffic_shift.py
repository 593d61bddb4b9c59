"""traffic_shift: alarm parsing, shift on moto's SageMaker endpoint, idempotency, refusals, AWS errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import traffic_shift
from botocore.exceptions import ClientError
from mlp_common import aws

from tests.handlers.fakes import ENDPOINT_NAME, REGION, FakeLambdaContext, log_lines


def _alarm(variant: str = "VariantA", state: str = "ALARM", endpoint: str = ENDPOINT_NAME) -> dict[str, Any]:
    """The payload CloudWatch sends to a Lambda alarm action (metric alarm on a variant metric)."""
    return {
        "source": "aws.cloudwatch",
        "alarmArn": f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:mlp-{variant}-latency",
        "accountId": "123456789012",
        "region": REGION,
        "alarmData": {
            "alarmName": f"mlp-{variant}-latency",
            "state": {"value": state, "reason": "Threshold Crossed"},
            "previousState": {"value": "OK"},
            "configuration": {
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/SageMaker",
                                "name": "ModelLatency",
                                "dimensions": {"EndpointName": endpoint, "VariantName": variant},
                            },
                            "period": 60,
                            "stat": "p99",
                        },
                        "returnData": True,
                    }
                ]
            },
        },
    }


@pytest.fixture
def endpoint(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """A moto endpoint with variants A and B (weights 1/1 unless given); ENDPOINTS_ENABLED=true."""
    monkeypatch.setenv("ENDPOINTS_ENABLED", "true")
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    def create(weights: dict[str, float] | None = None) -> Any:
        weights = weights or {"VariantA": 1.0, "VariantB": 1.0}
        variants = []
        for name, weight in weights.items():
            sagemaker.create_model(
                ModelName=f"model-{name}",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                PrimaryContainer={
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                    "ModelDataUrl": "s3://b/m",
                },
            )
            variants.append(
                {
                    "VariantName": name,
                    "ModelName": f"model-{name}",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": weight,
                }
            )
        sagemaker.create_endpoint_config(EndpointConfigName="config-1", ProductionVariants=variants)
        sagemaker.create_endpoint(EndpointName=ENDPOINT_NAME, EndpointConfigName="config-1")
        return sagemaker

    return create


def _weights(sagemaker: Any) -> dict[str, float]:
    variants = sagemaker.describe_endpoint(EndpointName=ENDPOINT_NAME)["ProductionVariants"]
    return {v["VariantName"]: v["DesiredWeight"] for v in variants}


def _count_updates() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    aws.client("sagemaker").meta.events.register(
        "before-call.sagemaker.UpdateEndpointWeightsAndCapacities", lambda params, **_: calls.append(params)
    )
    return calls


def test_alarm_shifts_traffic_to_the_healthy_variant_once(
    endpoint: Callable[..., Any], lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()

    first = traffic_shift.handler(_alarm("VariantA"), lambda_context)
    second = traffic_shift.handler(_alarm("VariantA"), lambda_context)

    assert first == {
        "action": "shifted",
        "reason": "variant VariantA in alarm; traffic moved to the other variants",
        "weights": {"VariantA": 0.0, "VariantB": 1.0},
    }
    assert _weights(sagemaker) == {"VariantA": 0.0, "VariantB": 1.0}
    assert second == {
        "action": "noop",
        "reason": "variant VariantA already receives no traffic",
        "weights": {"VariantA": 0.0, "VariantB": 1.0},
    }
    assert len(updates) == 1
    assert [line["level"] for line in log_lines(stdout_json())] == ["WARNING", "INFO"]


def test_eventbridge_alarm_state_change_shape(endpoint: Callable[..., Any], lambda_context: Any) -> None:
    sagemaker = endpoint()
    event = _alarm("VariantB")
    event = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": event["alarmData"]}
    assert traffic_shift.handler(event, lambda_context)["action"] == "shifted"
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 0.0}


def test_no_shift_when_no_other_variant_carries_traffic(
    endpoint: Callable[..., Any], lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    traffic_shift.handler(_alarm("VariantA"), lambda_context)  # A drained earlier
    updates = _count_updates()
    stdout_json()

    result = traffic_shift.handler(_alarm("VariantB"), lambda_context)

    assert result["action"] == "noop"
    assert result["reason"] == "no healthy variant other than VariantB to take the traffic"
    assert updates == []
    assert _weights(sagemaker) == {"VariantA": 0.0, "VariantB": 1.0}
    assert [line["level"] for line in log_lines(stdout_json())] == ["ERROR"]


def test_single_variant_endpoint_is_never_drained(endpoint: Callable[..., Any], lambda_context: Any) -> None:
    sagemaker = endpoint({"VariantA": 1.0})
    assert traffic_shift.handler(_alarm("VariantA"), lambda_context)["action"] == "noop"
    assert _weights(sagemaker) == {"VariantA": 1.0}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_alarm(state="OK"), "alarm state is OK, not ALARM"),
        (_alarm(state="INSUFFICIENT_DATA"), "alarm state is INSUFFICIENT_DATA, not ALARM"),
        (_alarm(endpoint="someone-elses-endpoint"), "endpoint someone-elses-endpoint is not managed by this function"),
        (_alarm("VariantC"), "variant VariantC is not on the endpoint"),
        ({"source": "aws.cloudwatch", "alarmData": {"state": {"value": "ALARM"}}}, "alarm has no EndpointName"),
    ],
)
def test_refusals_change_nothing(
    event: dict[str, Any], reason: str, endpoint: Callable[..., Any], lambda_context: FakeLambdaContext
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()
    result = traffic_shift.handler(event, lambda_context)
    assert result["action"] == "noop"
    assert result["reason"].startswith(reason)
    assert updates == []
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 1.0}


def test_phase_one_is_a_noop_without_aws_calls(
    mocked_aws: None, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    result = traffic_shift.handler(_alarm(), lambda_context)  # no endpoint exists: any call would fail
    assert result == {"action": "noop", "reason": "endpoints are not enabled (phase one)", "weights": {}}
    assert log_lines(stdout_json())[0]["reason"] == "endpoints are not enabled (phase one)"


def test_missing_endpoint_raises_so_the_async_invoke_retries(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv("ENDPOINTS_ENABLED", "true")
    with pytest.raises(ClientError):
        traffic_shift.handler(_alarm(), lambda_context)


def test_plan_keeps_drained_and_capacity_less_variants_out() -> None:
    variants = [
        {"VariantName": "A", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1},
        {"VariantName": "B", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 0},
        {
            "VariantName": "C",
            "CurrentWeight": 2.0,
            "DesiredWeight": 2.0,
            "CurrentServerlessConfig": {"MemorySizeInMB": 2048},
        },
    ]
    outcome, _, weights = traffic_shift.plan(variants, "A")
    assert (outcome, weights) == ("shift", {"A": 0.0, "B": 1.0, "C": 2.0})
    outcome, _, _ = traffic_shift.plan(variants[:2], "A")
    assert outcome == "blocked"


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": event["alarmData"]}


def _with(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of the event with the part at `path` replaced."""
    copy = json.loads(json.dumps(event))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


_METRIC = ("alarmData", "configuration", "metrics", 0)
_DIMENSIONS = (*_METRIC, "metricStat", "metric", "dimensions")
_M0 = "alarmData.configuration.metrics[0]"
_DIMS = f"{_M0}.metricStat.metric.dimensions"


@pytest.mark.parametrize(
    ("event", "where"),
    [
        (_with(_alarm(), ("alarmData",), "x"), "alarmData must be an object"),
        (_with(_alarm(), ("alarmData",), []), "alarmData must be an object"),
        (_detail(_with(_alarm(), ("alarmData",), [])), "detail must be an object"),
        (_with(_alarm(), ("alarmData", "state"), "ALARM"), "alarmData.state must be an object"),
        (_with(_alarm(), ("alarmData", "state", "value"), ["ALARM"]), "alarmData.state.value must be a string"),
        (_with(_alarm(), ("alarmData", "alarmName"), 5), "alarmData.alarmName must be a string"),
        (_with(_alarm(), ("alarmData", "configuration"), []), "alarmData.configuration must be an object"),
        (_with(_alarm(), _METRIC[:-1], "x"), "alarmData.configuration.metrics must be a list"),
        (_with(_alarm(), _METRIC, None), f"{_M0} must be an object"),
        (_with(_alarm(), (*_METRIC, "metricStat"), 1), f"{_M0}.metricStat must be an object"),
        (_with(_alarm(), (*_METRIC, "metricStat", "metric"), "m"), f"{_M0}.metricStat.metric must be an object"),
        (_with(_alarm(), _DIMENSIONS, [["EndpointName", ENDPOINT_NAME]]), f"{_DIMS} must be an object"),
        (_with(_alarm(), _DIMENSIONS, "EndpointName"), f"{_DIMS} must be an object"),
        (_with(_alarm(), (*_DIMENSIONS, "EndpointName"), [ENDPOINT_NAME]), f"{_DIMS}.EndpointName must be a string"),
        (_with(_alarm(), (*_DIMENSIONS, "VariantName"), 1), f"{_DIMS}.VariantName must be a string"),
        (
            _detail(_with(_alarm(), (*_DIMENSIONS, "VariantName"), True)),
            "detail.configuration.metrics[0].metricStat.metric.dimensions.VariantName must be a string",
        ),
        ([], "event must be an object"),
        ("ALARM", "event must be an object"),
    ],
)
@pytest.mark.usefixtures("mocked_aws", "enabled")
def test_malformed_events_are_refused_with_a_logged_reason_and_no_aws_call(
    event: Any, where: str, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    calls: list[str] = []
    aws.client("sagemaker").meta.events.register("before-call.sagemaker", lambda model, **_: calls.append(model.name))

    result = traffic_shift.handler(event, lambda_context)

    assert result == {"action": "noop", "reason": f"malformed alarm event: {where}", "weights": {}}
    assert calls == []
    [line] = log_lines(stdout_json())
    assert (line["level"], line["message"], line["reason"]) == ("ERROR", "no traffic shift", result["reason"])
    assert "exception" not in line


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"detail": None},
        _with(_alarm(), ("alarmData", "state"), None),
        _with(_alarm(), ("alarmData", "configuration"), None),
    ],
)
def test_absent_or_null_parts_are_not_malformed_but_still_change_nothing(
    event: dict[str, Any], endpoint: Callable[..., Any], lambda_context: FakeLambdaContext
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()
    result = traffic_shift.handler(event, lambda_context)
    assert result["action"] == "noop"
    assert result["reason"] in {"alarm state is unknown, not ALARM", "alarm has no EndpointName/VariantName dimensions"}
    assert updates == []
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 1.0}
