"""traffic_shift, property-based: any event shape gives a defined result; a malformed event never moves traffic.

Its documented exceptions are AWS errors (ClientError, so the asynchronous invocation retries), EndpointBusyError (an
endpoint still updating after the bounded wait: tests/handlers/test_traffic_shift_waits.py) and ConfigError. No
event raises anything: a part of the wrong type is refused as "malformed alarm event: <part> must be <type>" with an
ERROR log, before any AWS call. Only a well-formed ALARM on this endpoint's variant may shift traffic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import traffic_shift
from hypothesis import given
from hypothesis import strategies as st
from mlp_common import aws

from tests.handlers.fakes import ENDPOINT_NAME, FakeLambdaContext, log_lines
from tests.handlers.strategies import CLEAN_TEXT, mutated, replaced, value_of_wrong_type

pytestmark = pytest.mark.usefixtures("handler_env", "enabled")

_VARIANTS = [
    {"VariantName": "VariantA", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1},
    {"VariantName": "VariantB", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1},
]


def _alarm(variant: str = "VariantA", state: str = "ALARM", endpoint: str = ENDPOINT_NAME) -> dict[str, Any]:
    dimensions = {"EndpointName": endpoint, "VariantName": variant}
    return {
        "source": "aws.cloudwatch",
        "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlp-latency",
        "alarmData": {
            "alarmName": "mlp-latency",
            "state": {"value": state, "reason": "Threshold Crossed"},
            "previousState": {"value": "OK"},
            "configuration": {
                "metrics": [
                    {"id": "e1", "expression": "m1 * 2", "returnData": True},
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {"namespace": "AWS/SageMaker", "name": "ModelLatency", "dimensions": dimensions},
                            "period": 60,
                            "stat": "p99",
                        },
                    },
                ]
            },
        },
    }


def _eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": event["alarmData"]}


ALARMS = st.builds(
    _alarm,
    variant=st.sampled_from(["VariantA", "VariantB", "VariantC"]) | CLEAN_TEXT,
    state=st.sampled_from(["ALARM", "ALARM", "OK", "INSUFFICIENT_DATA"]),
    endpoint=st.sampled_from([ENDPOINT_NAME, ENDPOINT_NAME, "someone-elses-endpoint"]),
)
_BOTH_SHAPES = st.one_of(ALARMS, ALARMS.map(_eventbridge))
EVENTS = st.one_of(_BOTH_SHAPES, _BOTH_SHAPES.flatmap(mutated))

# Every structural place of the alarm and the type it must have there.
_METRIC = ("configuration", "metrics", 1)
_DIMENSIONS = (*_METRIC, "metricStat", "metric", "dimensions")
STRUCTURE: list[tuple[tuple[Any, ...], type]] = [
    ((), dict),
    (("state",), dict),
    (("state", "value"), str),
    (("alarmName",), str),
    (("configuration",), dict),
    (("configuration", "metrics"), list),
    (("configuration", "metrics", 0), dict),
    (_METRIC, dict),
    ((*_METRIC, "metricStat"), dict),
    ((*_METRIC, "metricStat", "metric"), dict),
    (_DIMENSIONS, dict),
    ((*_DIMENSIONS, "EndpointName"), str),
    ((*_DIMENSIONS, "VariantName"), str),
]


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The function's SageMaker client with fake DescribeEndpoint (two variants at weight 1) and a recorded update."""
    calls: dict[str, list[Any]] = {"describe": [], "update": []}
    client = aws.client("sagemaker")

    def describe(**kwargs: Any) -> dict[str, Any]:
        calls["describe"].append(kwargs)
        return {
            "EndpointName": kwargs["EndpointName"],
            "EndpointStatus": "InService",
            "ProductionVariants": json.loads(json.dumps(_VARIANTS)),
        }

    def update(**kwargs: Any) -> dict[str, Any]:
        calls["update"].append(kwargs)
        return {"EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT_NAME}"}

    monkeypatch.setattr(client, "describe_endpoint", describe)
    monkeypatch.setattr(client, "update_endpoint_weights_and_capacities", update)
    return calls


def _alarm_target(event: Any) -> tuple[Any, Any, Any]:
    """(state, endpoint, variant) read from a well-formed event by hand: the oracle for a shift."""
    data = event.get("alarmData") if event.get("alarmData") is not None else event.get("detail")
    dimensions = data["configuration"]["metrics"][1]["metricStat"]["metric"]["dimensions"]
    return data["state"]["value"], dimensions.get("EndpointName"), dimensions.get("VariantName")


@given(event=EVENTS)
def test_any_event_gives_a_defined_result_and_only_a_well_formed_alarm_shifts(
    event: Any, sagemaker: dict[str, list[Any]]
) -> None:
    sagemaker["describe"].clear()
    sagemaker["update"].clear()

    result = traffic_shift.handler(event, FakeLambdaContext())

    hypothesis.event(result["action"])
    assert set(result) == {"action", "reason", "weights"}
    assert result["action"] in {"shifted", "noop"}
    assert isinstance(result["reason"], str) and result["reason"]
    if result["action"] == "noop":
        assert sagemaker["update"] == []
        return
    state, endpoint, variant = _alarm_target(event)
    assert (state, endpoint, variant in {"VariantA", "VariantB"}) == ("ALARM", ENDPOINT_NAME, True)
    assert sagemaker["update"] == [
        {"EndpointName": ENDPOINT_NAME, "DesiredWeightsAndCapacities": [{"VariantName": variant, "DesiredWeight": 0.0}]}
    ]


_KIND = {dict: "an object", list: "a list", str: "a string"}


@st.composite
def malformed(draw: st.DrawFn) -> tuple[Any, str]:
    """A valid ALARM event for this endpoint with one structural part of the wrong type, and the refusal it earns."""
    shape = draw(st.sampled_from(["alarmData", "detail"]))
    path, kind = draw(st.sampled_from(STRUCTURE))
    alarm = _alarm() if shape == "alarmData" else _eventbridge(_alarm())
    event = replaced(alarm, (shape, *path), draw(value_of_wrong_type(kind)))
    where = ".".join([shape, *(f"[{step}]" if isinstance(step, int) else step for step in path)]).replace(".[", "[")
    return event, f"malformed alarm event: {where} must be {_KIND[kind]}"


@given(case=malformed())
def test_a_part_of_the_wrong_type_is_refused_before_any_aws_call(
    case: tuple[Any, str], sagemaker: dict[str, list[Any]], stdout_json: Callable[[], list[dict[str, Any]]]
) -> None:
    event, reason = case
    sagemaker["describe"].clear()
    sagemaker["update"].clear()
    stdout_json()

    result = traffic_shift.handler(event, FakeLambdaContext())

    assert result == {"action": "noop", "reason": reason, "weights": {}}
    assert sagemaker == {"describe": [], "update": []}
    [line] = log_lines(stdout_json())
    assert (line["level"], line["message"], line["reason"]) == ("ERROR", "no traffic shift", result["reason"])
