"""traffic_shift: alarm parsing, shift on moto's SageMaker endpoint, idempotency, refusals, AWS errors, and the
bounded wait for an endpoint that is not InService (fake clock: no test sleeps)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import traffic_shift
from botocore.exceptions import ClientError
from mlp_common import aws
from mlp_common.settings import ConfigError

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


# --- waiting for InService: the endpoint refuses weight changes while autoscaling or a deployment updates it ---


@dataclass
class FakeClock:
    """traffic_shift's monotonic clock and sleep: sleeping only advances the clock (and runs `on_sleep`, if set)."""

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[], None] | None = None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(traffic_shift, "monotonic", fake.monotonic)
    monkeypatch.setattr(traffic_shift, "sleep", fake.sleep)
    return fake


@dataclass
class _Context(FakeLambdaContext):
    remaining_millis: int = 900_000  # a 15-minute function just invoked: the wait is bounded by its settings only

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def _statuses(monkeypatch: pytest.MonkeyPatch, *statuses: str, then: str | None = None) -> list[str]:
    """The function's DescribeEndpoint reports these statuses in turn (moto's variants), then `then` (default: moto's
    own InService). Returns the statuses reported so far."""
    client = aws.client("sagemaker")
    real = client.describe_endpoint
    queued, reported = list(statuses), []

    def describe(**kwargs: Any) -> dict[str, Any]:
        response = real(**kwargs)
        status = queued.pop(0) if queued else then
        if status:
            response["EndpointStatus"] = status
        reported.append(response["EndpointStatus"])
        return response

    monkeypatch.setattr(client, "describe_endpoint", describe)
    return reported


def _refuse_updates(monkeypatch: pytest.MonkeyPatch, *errors: ClientError) -> list[dict[str, Any]]:
    """The function's first updates raise these errors, the next ones reach moto; returns every attempt."""
    client = aws.client("sagemaker")
    real = client.update_endpoint_weights_and_capacities
    queued, attempts = list(errors), []

    def update(**kwargs: Any) -> dict[str, Any]:
        attempts.append(kwargs)
        if queued:
            raise queued.pop(0)
        return real(**kwargs)

    monkeypatch.setattr(client, "update_endpoint_weights_and_capacities", update)
    return attempts


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "UpdateEndpointWeightsAndCapacities")


_IN_PROGRESS = f'Cannot update in-progress endpoint "arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT_NAME}".'
_SHIFTED_A = {
    "action": "shifted",
    "reason": "variant VariantA in alarm; traffic moved to the other variants",
    "weights": {"VariantA": 0.0, "VariantB": 1.0},
}


def test_wait_settings_default_to_ten_minutes_polled_every_fifteen_seconds() -> None:
    cfg = traffic_shift.Settings.from_env()
    assert (cfg.wait_seconds, cfg.poll_seconds) == (600, 15)


def test_wait_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_WAIT_SECONDS", "0")
    monkeypatch.setenv("ENDPOINT_POLL_SECONDS", "5")
    cfg = traffic_shift.Settings.from_env()
    assert (cfg.wait_seconds, cfg.poll_seconds) == (0, 5)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ENDPOINT_WAIT_SECONDS", "10m", "environment variable ENDPOINT_WAIT_SECONDS must be an integer, got '10m'"),
        ("ENDPOINT_WAIT_SECONDS", "-1", "environment variable ENDPOINT_WAIT_SECONDS must be >= 0, got -1"),
        ("ENDPOINT_POLL_SECONDS", "0", "environment variable ENDPOINT_POLL_SECONDS must be >= 1, got 0"),
    ],
)
def test_bad_wait_settings_name_the_variable(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        traffic_shift.Settings.from_env()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("wait_seconds", "remaining_millis", "budget"),
    [(600, 900_000, 600.0), (600, 45_000, 35.0), (20, 45_000, 20.0), (600, 5_000, 0.0), (0, 900_000, 0.0)],
)
def test_wait_budget_is_the_earlier_of_the_setting_and_the_invocation_time_left(
    wait_seconds: int, remaining_millis: int, budget: float
) -> None:
    cfg = traffic_shift.Settings(endpoints_enabled=True, endpoint_name=ENDPOINT_NAME, wait_seconds=wait_seconds)
    assert traffic_shift.wait_budget(cfg, remaining_millis) == budget


@pytest.mark.parametrize("status", ["Updating", "SystemUpdating", "Creating", "RollingBack"])
@pytest.mark.parametrize("polls", [1, 3])
def test_busy_endpoint_is_waited_for_then_shifted_once(
    status: str,
    polls: int,
    endpoint: Callable[..., Any],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    stdout_json: Callable,
) -> None:
    monkeypatch.setenv("ENDPOINT_POLL_SECONDS", "7")
    sagemaker = endpoint()
    updates = _count_updates()
    reported = _statuses(monkeypatch, *[status] * polls)

    result = traffic_shift.handler(_alarm("VariantA"), _Context())

    assert result == {**_SHIFTED_A, "waited_seconds": 7.0 * polls}
    assert clock.sleeps == [7.0] * polls
    assert reported == [status] * polls + ["InService"]
    assert len(updates) == 1
    assert _weights(sagemaker) == {"VariantA": 0.0, "VariantB": 1.0}
    lines = log_lines(stdout_json())
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "endpoint busy; waiting for InService"),
        ("WARNING", "traffic shifted"),
    ]
    assert (lines[0]["endpoint_status"], lines[0]["poll_seconds"]) == (status, 7)


def test_update_refused_as_in_progress_is_retried_once_the_endpoint_is_in_service(
    endpoint: Callable[..., Any], clock: FakeClock, monkeypatch: pytest.MonkeyPatch, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    # InService when described, Updating by the time of the update (a scale-out started in between).
    reported = _statuses(monkeypatch, "InService", "Updating")
    attempts = _refuse_updates(monkeypatch, _client_error("ValidationException", _IN_PROGRESS))

    result = traffic_shift.handler(_alarm("VariantA"), _Context())

    assert result == {**_SHIFTED_A, "waited_seconds": 30.0}
    assert len(attempts) == 2
    assert reported == ["InService", "Updating", "InService"]
    assert clock.sleeps == [15.0, 15.0]
    assert _weights(sagemaker) == {"VariantA": 0.0, "VariantB": 1.0}
    assert [line["level"] for line in log_lines(stdout_json())] == ["WARNING", "WARNING"]


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ValidationException", f'Could not find endpoint "{ENDPOINT_NAME}".'),
        _client_error("ThrottlingException", "Rate exceeded"),
        _client_error("AccessDeniedException", "not authorized to perform: sagemaker:UpdateEndpointWeights..."),
    ],
)
def test_other_update_errors_propagate_for_the_async_retry(
    error: ClientError, endpoint: Callable[..., Any], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint()
    attempts = _refuse_updates(monkeypatch, error)
    with pytest.raises(ClientError) as raised:
        traffic_shift.handler(_alarm("VariantA"), _Context())
    assert raised.value is error
    assert len(attempts) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("wait_seconds", "remaining_millis", "sleeps"),
    [
        ("60", 900_000, [15.0, 15.0, 15.0, 15.0]),  # ENDPOINT_WAIT_SECONDS is the bound
        ("600", 45_000, [15.0, 15.0, 5.0]),  # the invocation's time left (45 s - 10 s margin) is the bound
        ("600", 10_000, []),  # no time left to wait at all
        ("0", 900_000, []),  # waiting switched off
    ],
)
def test_endpoint_busy_past_the_bound_raises_for_the_async_retry_without_updating(
    wait_seconds: str,
    remaining_millis: int,
    sleeps: list[float],
    endpoint: Callable[..., Any],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    stdout_json: Callable,
) -> None:
    monkeypatch.setenv("ENDPOINT_WAIT_SECONDS", wait_seconds)
    sagemaker = endpoint()
    updates = _count_updates()
    _statuses(monkeypatch, then="Updating")

    with pytest.raises(traffic_shift.EndpointBusyError) as raised:
        traffic_shift.handler(_alarm("VariantA"), _Context(remaining_millis=remaining_millis))

    waited = sum(sleeps)
    assert str(raised.value) == (
        f"endpoint {ENDPOINT_NAME} is still Updating after waiting {waited:.1f} s for InService; traffic not shifted"
    )
    assert (raised.value.endpoint_name, raised.value.status, raised.value.waited_seconds) == (
        ENDPOINT_NAME,
        "Updating",
        waited,
    )
    assert clock.sleeps == sleeps
    assert updates == []
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 1.0}
    lines = log_lines(stdout_json())
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    assert lines[-1]["reason"] == str(raised.value)


def test_a_variant_drained_while_waiting_is_not_drained_again(
    endpoint: Callable[..., Any], clock: FakeClock, monkeypatch: pytest.MonkeyPatch, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()
    _statuses(monkeypatch, "Updating", "Updating")
    # An earlier invocation for the same alarm (or an operator) drains VariantA while this one waits.
    clock.on_sleep = lambda: sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME, DesiredWeightsAndCapacities=[{"VariantName": "VariantA", "DesiredWeight": 0.0}]
    )

    result = traffic_shift.handler(_alarm("VariantA"), _Context())

    assert result == {
        "action": "noop",
        "reason": "variant VariantA already receives no traffic",
        "weights": {"VariantA": 0.0, "VariantB": 1.0},
        "waited_seconds": 30.0,
    }
    assert updates == []
    assert [line["level"] for line in log_lines(stdout_json())] == ["WARNING", "INFO"]


def test_the_other_variant_drained_while_waiting_blocks_the_shift(
    endpoint: Callable[..., Any], clock: FakeClock, monkeypatch: pytest.MonkeyPatch, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()
    _statuses(monkeypatch, "Updating")
    # VariantB's own alarm drained it while this invocation (for VariantA) waited: A is now the only one left.
    clock.on_sleep = lambda: sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT_NAME, DesiredWeightsAndCapacities=[{"VariantName": "VariantB", "DesiredWeight": 0.0}]
    )

    result = traffic_shift.handler(_alarm("VariantA"), _Context())

    assert result == {
        "action": "noop",
        "reason": "no healthy variant other than VariantA to take the traffic",
        "weights": {"VariantA": 1.0, "VariantB": 0.0},
        "waited_seconds": 15.0,
    }
    assert updates == []
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 0.0}
    assert [line["level"] for line in log_lines(stdout_json())] == ["WARNING", "ERROR"]


@pytest.mark.parametrize("status", ["Failed", "OutOfService", "Deleting", "UpdateRollbackFailed", ""])
def test_endpoint_that_will_not_return_to_service_is_a_noop_with_an_error(
    status: str, endpoint: Callable[..., Any], clock: FakeClock, monkeypatch: pytest.MonkeyPatch, stdout_json: Callable
) -> None:
    sagemaker = endpoint()
    updates = _count_updates()
    client = aws.client("sagemaker")
    real = client.describe_endpoint
    monkeypatch.setattr(client, "describe_endpoint", lambda **kw: {**real(**kw), "EndpointStatus": status})

    result = traffic_shift.handler(_alarm("VariantA"), _Context())

    shown = status or "of unknown status"
    assert result == {
        "action": "noop",
        "reason": f"endpoint {ENDPOINT_NAME} is {shown}: no variant can safely take the traffic",
        "weights": {"VariantA": 1.0, "VariantB": 1.0},
    }
    assert updates == []
    assert clock.sleeps == []
    assert _weights(sagemaker) == {"VariantA": 1.0, "VariantB": 1.0}
    [line] = log_lines(stdout_json())
    assert (line["level"], line["reason"]) == ("ERROR", result["reason"])
